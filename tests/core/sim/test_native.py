"""The compiled simulator (aifactory.core.sim.native): when a build is used, that a stale one never is, and that
a build gives the schedules the sources give, job for job."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from aifactory.core.exceptions import CoreError
from aifactory.core.sim import native

ROOT = Path(__file__).resolve().parents[3]
TRACE = ROOT.parent / "shared" / "gpu-traces" / "philly" / "sia_philly_jobs.csv"


@pytest.fixture
def sources(tmp_path, monkeypatch):
    """A copy of the compiled modules' sources that the test may edit, and an empty build root."""
    package = tmp_path / "src"
    package.mkdir()
    for name in native.COMPILED:
        shutil.copy(native._PACKAGE_DIR / f"{name}.py", package / f"{name}.py")
    monkeypatch.setattr(native, "_PACKAGE_DIR", package)
    monkeypatch.setenv("AIFACTORY_SIM_BUILD_DIR", str(tmp_path / "builds"))
    monkeypatch.delenv("AIFACTORY_SIM_COMPILED", raising=False)
    return package


def fake_build(folder: Path, *, leave_out: str = "") -> None:
    """Empty files named as a build's modules: what `use` looks for (it never imports them)."""
    folder.mkdir(parents=True)
    suffix = sysconfig.get_config_var("EXT_SUFFIX")
    for name in native.BUILT:
        if name != leave_out:
            (folder / f"{name}{suffix}").write_bytes(b"")


def test_without_a_build_the_sources_run(sources):
    path = ["/the/package"]
    assert native.use(path) is False
    assert path == ["/the/package"]


def test_a_build_of_these_sources_goes_first_on_the_path(sources):
    fake_build(native.build_dir())
    path = ["/the/package"]
    assert native.use(path) is True
    assert path == [str(native.build_dir()), "/the/package"]
    assert native.use(path) is True and len(path) == 2  # not twice


def test_a_build_made_before_a_source_changed_is_never_used(sources):
    fake_build(native.build_dir())
    before = native.build_dir()
    (sources / "engine.py").write_text((sources / "engine.py").read_text() + "\n# changed\n")
    assert native.build_dir() != before
    path: list[str] = []
    assert native.use(path) is False and path == []


def test_an_incomplete_build_is_not_used(sources):
    fake_build(native.build_dir(), leave_out="prediction")
    assert native.use([]) is False


def test_zero_turns_a_build_off_and_one_requires_it(sources, monkeypatch):
    fake_build(native.build_dir())
    monkeypatch.setenv("AIFACTORY_SIM_COMPILED", "0")
    assert native.use([]) is False
    monkeypatch.setenv("AIFACTORY_SIM_COMPILED", "1")
    assert native.use([]) is True
    shutil.rmtree(native.build_root())
    with pytest.raises(ImportError, match="aifactory bench compile"):
        native.use([])


def test_compiling_without_mypyc_says_what_to_install(sources, monkeypatch):
    monkeypatch.setitem(sys.modules, "mypyc", None)  # import mypyc raises ImportError
    with pytest.raises(CoreError, match=r"aifactory\[bench\]"):
        native.compile_modules()
    assert not native.build_root().exists()


# A schedule's digest, from a subprocess that imports the simulator compiled or not as the environment says.
DIGEST = """
import hashlib, json, sys
from aifactory.core.sim import native, real_size_arrivals, simulable, simulate_arrivals
from aifactory.core.catalog import load_catalog
from aifactory.core.traces import read_trace
machines, left_out = simulable(load_catalog().gpu_machines())
fed, arrivals = real_size_arrivals(read_trace(sys.argv[1]), machines, 0.9, left_out=left_out, limit=int(sys.argv[2]))
out = {"compiled": native.is_compiled()}
for policy in sys.argv[3:]:
    r = simulate_arrivals(arrivals, fed.machines, policy, "user", seed=3)
    h = hashlib.sha256()
    for a in (r.machine, r.start_s, r.finish_s, r.predicted_start_s):
        h.update(a.tobytes())
    out[policy] = h.hexdigest()
print(json.dumps(out))
"""


def digest(compiled: str, jobs: int, policies: list[str]) -> dict[str, object]:
    env = dict(os.environ, AIFACTORY_SIM_COMPILED=compiled)
    done = subprocess.run([sys.executable, "-c", DIGEST, str(TRACE), str(jobs), *policies], env=env,
                          capture_output=True, text=True, check=True, timeout=600)
    return dict(json.loads(done.stdout))


def test_the_compiled_simulator_schedules_every_job_as_the_sources_do():
    """Runs in the compiled simulator's CI tier (AIFACTORY_SIM_COMPILED=1), or wherever a build exists."""
    if not native.is_compiled():
        if os.environ.get("AIFACTORY_SIM_COMPILED") == "1":
            pytest.fail("AIFACTORY_SIM_COMPILED=1 but the simulator is not compiled")
        pytest.skip("no compiled simulator built for these sources (`aifactory bench compile`)")
    if not TRACE.is_file():
        pytest.fail(f"the trace is missing: {TRACE}")
    policies = ["broker", "home-site", "least-loaded", "earliest-start", "fastest-machine"]
    compiled = digest("1", 60_000, policies)
    interpreted = digest("0", 60_000, policies)
    assert compiled.pop("compiled") is True
    assert interpreted.pop("compiled") is False
    assert compiled == interpreted
