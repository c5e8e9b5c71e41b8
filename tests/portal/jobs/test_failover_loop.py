"""The one failover loop (`aifactory failover`, `django-admin failover`, `aifactory run`): a repeated pass that fails
is logged and tried again; a single pass raises what fails."""

from __future__ import annotations

import pytest

from aifactory.portal.jobs import failover
from aifactory.portal.jobs.failover import FailoverResult, Move, describe, failover_run


def _flaky(calls: list[int]):
    def run() -> FailoverResult:
        calls.append(1)
        if len(calls) == 1:
            raise RuntimeError("the database is restarting")
        return FailoverResult(moved=[Move("u1", "a", "b", "acct")])
    return run


@pytest.mark.django_db(transaction=True)  # between passes the loop closes the connections it no longer trusts
def test_a_repeated_pass_that_fails_is_logged_and_tried_again(monkeypatch, caplog):
    calls: list[int] = []
    monkeypatch.setattr(failover, "jobs_failover", _flaky(calls))
    reports: list[FailoverResult] = []
    failover_run(every=0.001, report=reports.append, stopping=lambda: len(calls) >= 3)
    assert len(calls) == 3
    assert [describe(r) for r in reports] == [["moved u1 from a to b (account acct)"]] * 2
    assert "failover pass failed" in caplog.text


def test_a_single_pass_raises_what_fails(monkeypatch):
    calls: list[int] = []
    monkeypatch.setattr(failover, "jobs_failover", _flaky(calls))
    with pytest.raises(RuntimeError, match="restarting"):
        failover_run(every=0, report=lambda r: None)
    assert len(calls) == 1


def test_a_single_pass_reports_once(monkeypatch):
    calls: list[int] = [1]  # past the failing first call
    monkeypatch.setattr(failover, "jobs_failover", _flaky(calls))
    reports: list[FailoverResult] = []
    failover_run(every=0, report=reports.append)
    assert len(reports) == 1
