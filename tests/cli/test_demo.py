"""`aifactory demo --json`: the whole journey against a throw-away portal and a local agent, in a subprocess."""

from __future__ import annotations

import json
import os
import subprocess
import sys

STEPS = ["registered", "approved", "account provisioned", "job running", "job finished", "usage charged"]


def test_demo_journey_reports_every_step_ok(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "AIFACTORY_DATA_DIR")}
    env["TMPDIR"] = str(tmp_path)  # the throw-away portal and its jobs live under the test's folder
    done = subprocess.run(
        [sys.executable, "-m", "aifactory.cli.main", "demo", "--json", "--timeout", "60"],
        capture_output=True, text=True, timeout=120, env=env, cwd=tmp_path, check=False,
    )
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-2000:])
    report = json.loads(done.stdout)
    assert report["ok"] is True and report["error"] is None
    steps = report["steps"]
    assert [s["step"] for s in steps] == STEPS
    assert all(s["ok"] for s in steps)
    assert all(s["seconds"] >= 0 for s in steps)
    assert [s["at_s"] for s in steps] == sorted(s["at_s"] for s in steps)
    by_name = {s["step"]: s["detail"] for s in steps}
    assert by_name["registered"]["sme_category"] == "small"
    assert by_name["account provisioned"]["account"].startswith("aif-p")
    assert by_name["job finished"]["exit_code"] == 0
    assert by_name["job finished"]["log"] == ["loss 0.42"]
    assert by_name["usage charged"]["gpu_seconds"] > 0
    assert by_name["usage charged"]["gpu_hours_used"] > 0
