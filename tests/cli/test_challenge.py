"""`aifactory challenge demo --json`: a Grand Challenge round through the API against a throw-away portal."""

from __future__ import annotations

import json
import os
import subprocess
import sys

STEPS = ["call opened", "proposals in", "reviewers assigned", "scores in", "winners selected", "winners routed",
         "allocations created", "provisioned"]


def _run(tmp_path, *args):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "AIFACTORY_DATA_DIR")}
    env["TMPDIR"] = str(tmp_path)
    return subprocess.run([sys.executable, "-m", "aifactory.cli.main", "challenge", "demo", *args],
                          capture_output=True, text=True, timeout=180, env=env, cwd=tmp_path, check=False)


def test_a_round_end_to_end(tmp_path):
    done = _run(tmp_path, "--json")
    assert done.returncode == 0, (done.stdout[-2000:], done.stderr[-2000:])
    report = json.loads(done.stdout)
    assert report["ok"] is True
    assert [s["step"] for s in report["steps"]] == STEPS
    by = {s["step"]: s["detail"] for s in report["steps"]}
    assert by["proposals in"]["proposals"] == 10
    assert by["reviewers assigned"]["assignments"] == 20
    assert by["scores in"]["reviews"] == 20
    opt, greedy = by["winners selected"]["optimum"], by["winners selected"]["greedy"]
    assert opt["proven_optimal"] is True and opt["value"] >= greedy["value"]
    assert opt["value"] > greedy["value"]  # seed 11: the budgets bind and rank order wastes them
    assert opt["winners"] <= 5
    winners = set(by["winners selected"]["winners"])
    assert {r["application"] for r in by["winners routed"]["routes"]} == winners
    allocations = by["allocations created"]["allocations"]
    assert {a["application"] for a in allocations} == winners
    assert all(a["orders"] == 1 for a in allocations)
    assert all(by["provisioned"]["accounts"].values())
    assert report["summary"]["allocations"] == len(allocations)


def test_a_running_portal_needs_a_staff_token(tmp_path):
    done = _run(tmp_path, "--url", "http://127.0.0.1:9")
    assert done.returncode == 2 and "--admin-token" in done.stderr
