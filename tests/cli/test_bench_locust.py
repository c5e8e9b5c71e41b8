"""`aifactory bench submit --tool locust`: a tiny load through locust is served, and what was accepted is stored
and booked once (no rate is asserted: the figures are the benchmark's). Needs locust (the [bench] extra) and
PostgreSQL (the suite's DATABASE_URL); the benchmark uses a database of its own beside the suite's."""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys

import pytest

from aifactory.cli.main import main

URL = os.environ.get("DATABASE_URL", "")

needs_locust = pytest.mark.skipif(importlib.util.find_spec("locust") is None,
                                  reason="locust is not installed (pip install '.[bench]')")
needs_postgres = pytest.mark.skipif(not URL.startswith(("postgres://", "postgresql://")),
                                    reason="the load test runs on PostgreSQL (DATABASE_URL)")


@needs_locust
@needs_postgres
@pytest.mark.slow
def test_a_tiny_load_is_served_and_every_accepted_job_is_stored_once():
    database = URL.split("?", 1)[0] + "_locust"
    done = subprocess.run(
        [sys.executable, "-m", "aifactory.cli.main", "bench", "submit", "--tool", "locust", "--database-url",
         database, "--keep-database", "--workers", "1", "--threads", "2", "--users", "2", "--duration", "3",
         "--warmup", "4", "--profile", "3", "--json"],
        capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stderr[-3000:]
    figures = json.loads(done.stdout)
    (run,) = figures["runs"]
    assert run["jobs"]["requests"] > 0 and run["jobs"]["failures"] == 0, run["jobs"]["failure_samples"]
    assert run["control"]["requests"] > 0 and run["control"]["failures"] == 0, run["control"]["failure_samples"]
    check = run["check"]
    assert check["ok"] and check["missing"] == 0 and check["unexpected"] == 0
    assert check["stored"] == check["accepted"] == 4 + run["locust_accepted"] > 4
    assert check["counter_s"] == check["sum_of_jobs_s"] == 60 * check["stored"]
    assert figures["profile"]["requests"] == 3
    assert figures["profile"]["parts"][0]["ms"] > 0


def test_the_load_test_refuses_a_database_other_than_postgresql(capsys):
    if importlib.util.find_spec("locust") is None:
        assert main(["bench", "submit", "--tool", "locust", "--database-url", "sqlite:///x.db"]) == 2
        assert "locust is not installed" in capsys.readouterr().err
        return
    assert main(["bench", "submit", "--tool", "locust", "--database-url", "sqlite:///x.db"]) == 2
    assert "must be PostgreSQL" in capsys.readouterr().err


def test_the_load_test_refuses_bad_counts(capsys):
    assert main(["bench", "submit", "--tool", "locust", "--users", "0"]) == 2
    assert "--users" in capsys.readouterr().err
