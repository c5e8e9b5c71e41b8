"""Every example job says where it runs; those for the default set-up run there (the local backend) to the end."""

from __future__ import annotations

import json
import re
import time
import uuid
from pathlib import Path

import pytest

from aifactory.agent.base import BatchJob
from aifactory.agent.local import LocalBackend
from aifactory.core.jobs import JobState
from aifactory.core.jobspec import parse_spec

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "jobs"
SPECS = sorted(p for p in EXAMPLES.iterdir() if p.suffix in (".yaml", ".json"))
INDEX = (EXAMPLES / "README.md").read_text(encoding="utf-8")


def runs_by_default(path: Path) -> bool:
    row = next(line for line in INDEX.splitlines() if f"]({path.name})" in line)
    return "the default set-up" in row


def run_locally(tmp_path: Path, path: Path):
    spec = parse_spec(path.read_text(encoding="utf-8"))
    backend = LocalBackend(tmp_path / "site")
    backend.ensure_account("aif-p1", 6000)
    uid = uuid.uuid4().hex
    backend.submit(BatchJob(uid=uid, name=spec.name, account="aif-p1", gpus=spec.resources.gpus,
                            time_limit_s=spec.resources.time_limit_s, script=spec.script(), env=dict(spec.env),
                            image=spec.image or "", inputs=spec.inputs, outputs=spec.outputs))
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        report = backend.find(uid)
        if report is not None and report.state.terminal:
            return backend, uid, report
        time.sleep(0.1)
    raise AssertionError(f"{path.name} did not end")


@pytest.mark.parametrize("path", SPECS, ids=lambda p: p.name)
def test_every_example_parses_and_says_where_it_runs(path):
    parse_spec(path.read_text(encoding="utf-8"))
    assert f"]({path.name})" in INDEX, f"{path.name} is not in examples/jobs/README.md"
    if path.suffix == ".yaml":
        assert re.match(r"# Runs on: ", path.read_text(encoding="utf-8")), path.name


@pytest.mark.slow
@pytest.mark.parametrize("path", [p for p in SPECS if runs_by_default(p)], ids=lambda p: p.name)
def test_the_examples_for_the_default_set_up_run_there(tmp_path, path):
    backend, uid, report = run_locally(tmp_path, path)
    assert report.state is JobState.COMPLETED, backend.logs(uid)
    spec = parse_spec(path.read_text(encoding="utf-8"))
    assert [f["path"] for f in backend.output_files(uid)] == list(spec.outputs)
    if "metrics.json" in spec.outputs:
        metrics = json.loads((backend.root / "jobs" / uid / "metrics.json").read_text())
        assert abs(metrics["w"] - 3) < 0.2 and metrics["loss"] < 0.05


@pytest.mark.parametrize("path", [p for p in SPECS if not runs_by_default(p)], ids=lambda p: p.name)
def test_an_example_for_elsewhere_stops_at_once_on_the_default_set_up_uncharged(tmp_path, path):
    if not parse_spec(path.read_text(encoding="utf-8")).inputs:
        pytest.skip("needs no input: it fails on its own commands instead")
    backend, uid, report = run_locally(tmp_path, path)
    assert report.state is JobState.FAILED and report.gpu_seconds == 0, backend.logs(uid)
