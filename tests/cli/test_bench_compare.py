"""scripts/bench-compare.sh: the same bench broker command on two versions of the code, alternately."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.cli.test_bench_broker import small_trace

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "bench-compare.sh"

pytestmark = pytest.mark.skipif(shutil.which("git") is None or not (ROOT / ".git").exists(),
                                reason="needs git and a checkout")


def compare(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["bash", str(SCRIPT), *args], cwd=ROOT, capture_output=True, text=True, check=False,
                          env={"PATH": "/usr/bin:/bin", "PYTHON": sys.executable, "HOME": str(Path.home())})


@pytest.mark.parametrize("args", [(), ("HEAD",), ("HEAD", "HEAD"), ("-n", "0", "HEAD", "--", "--load", "0.9"),
                                  ("-n", "x", "HEAD", "--", "--load", "0.9")])
def test_refuses_without_refs_runs_or_bench_arguments(args):
    done = compare(*args)
    assert done.returncode == 2, done.stdout + done.stderr


def test_alternates_the_two_versions_and_prints_medians_and_ratios(tmp_path):
    done = compare("-n", "2", "HEAD", "--", "--trace", str(small_trace(tmp_path)), "--policy", "broker",
                   "--estimates", "user")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    runs = [line.split()[1:3] for line in lines if line.startswith("run ")]
    # home-site (always run) and broker, each version twice, old before new
    assert runs == [["1", "old"]] * 2 + [["1", "new"]] * 2 + [["2", "old"]] * 2 + [["2", "new"]] * 2
    assert any(line.startswith("median broker/user: old ") and "new/old" in line for line in lines)
    assert "new: working tree" in done.stdout
