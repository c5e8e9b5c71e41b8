"""Managed runs through the real API, with each site's agent simulated through the agent API: segments chained when
one ends at its time limit, a lost site's segment fenced by its lease before the run moves, failures bounded,
checkpoints validated, permissions as for jobs."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.conf import settings
from django.utils import timezone

from aifactory.core.exceptions import InvalidTransition
from aifactory.portal.allocations.models import Allocation
from aifactory.portal.federation.models import Site
from aifactory.portal.jobs.failover import jobs_failover
from aifactory.portal.jobs.models import Job, JobRevocation
from aifactory.portal.runs.choices import RUN_TRANSITIONS, RunState
from aifactory.portal.runs.models import Run, RunStateChange
from aifactory.portal.runs.services import run_cancel, run_complete, run_fail, run_resume, run_wait, runs_advance
from tests.conftest import assert_refused, login, text
from tests.portal.runs.conftest import SiteAgent, run_body
from tests.state_edges import RUN_EDGES, allowed

pytestmark = pytest.mark.django_db

SERVICES = {RunState.WAITING: run_wait, RunState.RUNNING: run_resume, RunState.COMPLETED: run_complete,
            RunState.FAILED: run_fail}


def create(api, **over):
    response = api.post("/runs", run_body(**over))
    assert response.status_code == 201, response.content
    return response.json()


def segment_job(run_id: int, index: int = -1) -> Job:
    segments = list(Run.objects.get(pk=run_id).segments.select_related("job", "job__site"))
    return segments[index].job


def agent_of(fed, job: Job) -> SiteAgent:
    return SiteAgent(fed.jupiter.token if job.site.name == "jupiter-a" else fed.leonardo.token)


def test_the_table_is_the_expected_one():
    assert RUN_TRANSITIONS.edges() == RUN_EDGES


@pytest.mark.parametrize("current", list(RunState))
@pytest.mark.parametrize("target", list(RunState))
def test_every_move_is_guarded(fed, api, current, target):
    run = Run.objects.get(pk=create(api)["id"])
    Run.objects.filter(pk=run.pk).update(state=current.value)
    run.refresh_from_db()
    if target == RunState.CANCELLED:
        move = lambda: run_cancel(run=run, user=run.created_by)  # noqa: E731
    elif target in SERVICES:
        move = lambda: SERVICES[target](run=run, reason="test")  # noqa: E731
    else:
        return
    if allowed(RUN_EDGES, current.value, target.value):
        move()
        assert Run.objects.get(pk=run.pk).state == target.value
        change = RunStateChange.objects.filter(run=run).last()
        assert (change.from_state, change.to_state) == (current.value, target.value)
    else:
        with pytest.raises(InvalidTransition):
            move()
        assert Run.objects.get(pk=run.pk).state == current.value


def test_a_run_is_created_with_its_first_segment_leased(fed, api, site_api):
    body = create(api, tokens=409600)
    assert body["state"] == "running" and body["steps"] == 100 and body["tokens"] == 409600
    [segment] = body["segments"]
    assert (segment["index"], segment["site"], segment["state"], segment["cause"]) == (
        0, "jupiter-a", "pending", "first segment")
    job = Job.objects.get(uid=segment["job"])
    assert job.lease_s == settings.RUN_LEASE_S
    assert job.env == {"AIF_RUN_ID": str(body["id"]), "AIF_RUN_SEGMENT": "0", "AIF_RUN_STEPS": "100",
                       "AIF_RUN_CHECKPOINT_DIR": "/shared/runs/llm", "AIF_RUN_CHECKPOINT_EVERY": "10"}
    listed = SiteAgent(fed.jupiter.token).api.get("/agent/jobs").json()
    assert [(j["uid"], j["lease_s"]) for j in listed] == [(job.uid, settings.RUN_LEASE_S)]
    assert [c["to_state"] for c in body["changes"]] == ["running"]


def test_segments_chain_at_the_time_limit_until_the_steps_are_done(fed, api):
    run_id = create(api)["id"]
    first = segment_job(run_id)
    agent = agent_of(fed, first)
    assert agent.report(first.uid, "running", scheduler_id="11").status_code == 204
    assert runs_advance() == []  # running: nothing to do
    assert agent.checkpoints(first.uid, 10, 20, when="2026-01-01T00:00:00+00:00").json() == {"added": 2}
    assert agent.checkpoints(first.uid, 20, 30, when="2026-01-01T00:00:10+00:00").json() == {"added": 1}  # 20 known
    # The time limit is near: train.py checkpoints and exits 3; Slurm says FAILED.
    assert agent.report(first.uid, "failed", exit_code=3, gpu_seconds=600.0).status_code == 204
    [line] = runs_advance()
    assert "segment 1" in line
    second = segment_job(run_id)
    assert second.uid != first.uid and second.env["AIF_RUN_SEGMENT"] == "1"
    run = api.get(f"/runs/{run_id}").json()
    assert run["steps_done"] == 30 and run["segments"][1]["start_step"] == 30
    assert run["segments"][1]["cause"].startswith("resumes from step 30: segment 0 ended, it stopped with a "
                                                  "checkpoint")
    agent = agent_of(fed, second)
    agent.report(second.uid, "running")
    agent.checkpoints(second.uid, 40, when="2026-01-01T00:01:00+00:00")
    agent.checkpoints(second.uid, 70, when="2026-01-01T00:01:30+00:00")
    run = api.get(f"/runs/{run_id}").json()
    assert run["steps_per_s"] == pytest.approx(1.0) and run["progress"] == pytest.approx(0.7)
    assert run["expected_finish_at"].startswith("2026-01-01T00:02:00")  # 30 steps left at 1 step/s
    agent.checkpoints(second.uid, 100, when="2026-01-01T00:02:00+00:00")
    agent.report(second.uid, "completed", exit_code=0, gpu_seconds=1200.0)
    [line] = runs_advance()
    assert "completed at step 100" in line
    run = api.get(f"/runs/{run_id}").json()
    assert run["state"] == "completed" and run["gpu_hours"] == pytest.approx(0.5)
    assert [c["step"] for c in run["checkpoints"]] == [10, 20, 30, 40, 70, 100]
    assert [c["segment"] for c in run["checkpoints"]] == [0, 0, 0, 1, 1, 1]
    assert runs_advance() == []


def test_segments_without_progress_fail_the_run_after_the_limit(fed, api, settings):
    settings.RUN_MAX_FAILED_SEGMENTS = 3
    run_id = create(api)["id"]
    for attempt in range(3):
        job = segment_job(run_id)
        agent_of(fed, job).report(job.uid, "failed", exit_code=1)
        runs_advance()
    run = api.get(f"/runs/{run_id}").json()
    assert run["state"] == "failed" and len(run["segments"]) == 3
    assert run["message"].startswith("3 segments in a row ended without a new checkpoint")
    assert run["segments"][1]["cause"].startswith("retry 1 of 2 from step 0")


def test_progress_resets_the_count_of_failures(fed, api, settings):
    settings.RUN_MAX_FAILED_SEGMENTS = 2
    run_id = create(api)["id"]
    job = segment_job(run_id)
    agent_of(fed, job).report(job.uid, "failed", exit_code=1)
    runs_advance()
    job = segment_job(run_id)
    agent = agent_of(fed, job)
    agent.report(job.uid, "running")
    agent.checkpoints(job.uid, 10)
    agent.report(job.uid, "failed", exit_code=137)  # killed, but it had written a checkpoint: progress
    runs_advance()
    assert Run.objects.get(pk=run_id).failures_in_a_row == 0
    job = segment_job(run_id)
    agent_of(fed, job).report(job.uid, "failed", exit_code=1)
    runs_advance()
    assert Run.objects.get(pk=run_id).state == "running"  # one failure only since the last progress


def lost_since(site, seconds: float) -> None:
    Site.objects.filter(pk=site.site.pk).update(last_seen_at=timezone.now() - timedelta(seconds=seconds))


def test_a_lost_site_is_fenced_by_the_lease_before_the_run_moves(fed, api):
    run_id = create(api)["id"]
    first = segment_job(run_id)
    assert first.site.name == "jupiter-a"
    agent = SiteAgent(fed.jupiter.token)
    agent.report(first.uid, "running", scheduler_id="7")
    agent.checkpoints(first.uid, 10, 20)
    # The agent is lost, but its last report is recent enough that the segment may still run on its lease.
    lost_since(fed.jupiter, settings.AGENT_STALE_AFTER_S + 1)
    assert jobs_failover().moved == []  # a running job never moves
    assert runs_advance() == []
    assert Job.objects.get(pk=first.pk).state == "running" and len(Run.objects.get(pk=run_id).segments.all()) == 1
    # One second before the lease and its grace have run out: still nothing.
    lost_since(fed.jupiter, settings.RUN_LEASE_S + settings.LEASE_GRACE_S - 1)
    assert runs_advance() == []
    # Past them: the copy has stopped by itself; the segment is given up and the run goes on elsewhere.
    lost_since(fed.jupiter, settings.RUN_LEASE_S + settings.LEASE_GRACE_S + 1)
    [line] = runs_advance()
    assert "segment 1 at leonardo-a" in line
    gone = Job.objects.get(pk=first.pk)
    assert gone.state == "failed" and "lease of 300 s ran out" in gone.message
    assert JobRevocation.objects.filter(job=gone, site=fed.jupiter.site, done_at__isnull=True).exists()
    second = segment_job(run_id)
    assert second.site.name == "leonardo-a" and second.allocation == fed.on_leonardo
    run = api.get(f"/runs/{run_id}").json()
    assert run["segments"][1]["start_step"] == 20
    assert "its site jupiter-a was lost and its lease ran out" in run["segments"][1]["cause"]
    # The old site's agent comes back: its reports and checkpoints are no longer taken; it cancels its copy.
    lost_since(fed.jupiter, 0)
    assert_refused(agent.checkpoints(first.uid, 30), 410)
    assert_refused(agent.report(first.uid, "running"), 410)
    assert [r["uid"] for r in agent.api.get("/agent/revocations").json()] == [first.uid]
    # Only one segment is open at any time.
    open_jobs = Job.objects.filter(run_segment__run_id=run_id).exclude(state__in=["completed", "failed",
                                                                                  "cancelled"])
    assert [j.uid for j in open_jobs] == [second.uid]


def test_a_waiting_segment_on_a_lost_site_moves_with_the_jobs_failover(fed, api):
    run_id = create(api)["id"]
    first = segment_job(run_id)
    SiteAgent(fed.jupiter.token).report(first.uid, "submitted", scheduler_id="7")
    lost_since(fed.jupiter, settings.AGENT_STALE_AFTER_S + 1)
    [move] = jobs_failover().moved
    assert (move.uid, move.to_site) == (first.uid, "leonardo-a")
    assert runs_advance() == []  # the same segment, now at leonardo-a
    assert segment_job(run_id).site.name == "leonardo-a" and len(Run.objects.get(pk=run_id).segments.all()) == 1


def test_a_run_waits_when_no_site_can_take_the_next_segment_and_resumes(fed, api):
    run_id = create(api)["id"]
    job = segment_job(run_id)
    agent = agent_of(fed, job)
    agent.report(job.uid, "running")
    agent.checkpoints(job.uid, 10)
    Allocation.objects.update(gpu_seconds_used=10**9)  # no hours left anywhere
    agent.report(job.uid, "failed", exit_code=3)
    [line] = runs_advance()
    assert "waiting" in line and Run.objects.get(pk=run_id).state == "waiting"
    assert runs_advance() == []  # still nothing
    Allocation.objects.update(gpu_seconds_used=0)
    [line] = runs_advance()
    assert "segment 1" in line
    run = Run.objects.get(pk=run_id)
    assert run.state == "running" and [c.to_state for c in run.changes.all()] == ["running", "waiting", "running"]


def test_cancel_stops_the_current_segment(fed, api):
    run_id = create(api)["id"]
    job = segment_job(run_id)
    body = api.post(f"/runs/{run_id}/cancel").json()
    assert body["state"] == "cancelled" and body["segments"][0]["state"] == "cancelled"
    assert Job.objects.get(pk=job.pk).state == "cancelled"
    assert_refused(api.post(f"/runs/{run_id}/cancel"), 409)
    assert runs_advance() == []


@pytest.mark.parametrize(("field", "value"), [
    ("steps", 0), ("steps", "100"), ("steps", None), ("checkpoint_every", 0), ("checkpoint_every", 1000),
    ("checkpoint_dir", "relative/path"), ("checkpoint_dir", "/a/../b"), ("checkpoint_dir", ""),
    ("tokens", 0), ("spec", {"name": "x"}), ("spec", "name: [unclosed"), ("organisation", 10**6),
])
def test_bad_fields_are_refused_naming_them(fed, api, field, value):
    body = run_body(**{field: value})
    if value is None:
        del body[field]
    answer = assert_refused(api.post("/runs", body), (400, 404, 422))
    assert field in answer["message"] or field in str(answer["detail"]) or "spec" in field, answer
    assert not Run.objects.exists() and not Job.objects.exists()


@pytest.mark.parametrize(("checkpoint", "field"), [
    ({"step": -1}, "step"), ({"step": "10"}, "step"), ({"step": True}, "step"), ({"step": 10**14}, "step"),
    ({"tokens": -5}, "tokens"), ({"path": "relative.pt"}, "path"), ({"path": "/a/../etc/passwd"}, "path"),
    ({"path": "/x\u0000y"}, "checkpoints"), ({"time": "yesterday"}, "time"),
    ({"time": "2999-01-01T00:00:00+00:00"}, "time"),
    ({"time": "2026-01-01T00:00:00"}, "time"),
])
def test_checkpoint_reports_are_validated(fed, api, checkpoint, field):
    run_id = create(api)["id"]
    job = segment_job(run_id)
    good = {"step": 10, "tokens": 1, "path": "/shared/runs/llm/step-10.pt", "time": "2026-01-01T00:00:00+00:00"}
    answer = assert_refused(agent_of(fed, job).api.post(f"/agent/jobs/{job.uid}/checkpoints",
                                                         {"checkpoints": [{**good, **checkpoint}]}), (400, 422))
    assert field in answer["message"] or field in str(answer["detail"]), answer
    assert not Run.objects.get(pk=run_id).checkpoints.exists()


def test_checkpoints_only_from_the_segments_site(fed, api, site_api):
    run_id = create(api)["id"]
    job = segment_job(run_id)
    other = SiteAgent(fed.leonardo.token if job.site.name == "jupiter-a" else fed.jupiter.token)
    assert_refused(other.checkpoints(job.uid, 10), 404)
    assert_refused(agent_of(fed, job).checkpoints("0" * 32, 10), 404)
    assert_refused(agent_of(fed, job).checkpoints("not-a-uid", 10), 404)
    too_many = [{"step": i, "path": "/a/b", "time": "2026-01-01T00:00:00+00:00"} for i in range(65)]
    assert_refused(agent_of(fed, job).api.post(f"/agent/jobs/{job.uid}/checkpoints", {"checkpoints": too_many}),
                   (400, 422))


def test_a_plain_job_has_no_checkpoints_to_report(fed, api):
    job = fed.submit()
    assert job.lease_s == 0
    assert_refused(agent_of(fed, job).checkpoints(job.uid, 10), 404)


def test_permissions_follow_the_organisation(fed, api, other_api, anon, user):
    run_id = create(api)["id"]
    assert [r["id"] for r in api.get("/runs").json()] == [run_id]
    assert other_api.get("/runs").json() == []
    assert_refused(other_api.get(f"/runs/{run_id}"), 404)
    assert_refused(other_api.post(f"/runs/{run_id}/cancel"), 404)
    assert anon.get("/runs").status_code == 401
    assert_refused(other_api.post("/runs", run_body(organisation=fed.organisation.pk)), 404)
    assert_refused(other_api.post("/runs", run_body()), 409)  # mallory has no organisation
    assert SiteAgent(fed.jupiter.token).api.get("/runs").status_code == 401
    job = segment_job(run_id)
    assert api.post(f"/agent/jobs/{job.uid}/checkpoints", {"checkpoints": []}).status_code == 401
    assert Run.objects.get(pk=run_id).state == "running"


def test_list_filters(fed, api):
    first = create(api)["id"]
    second = create(api)["id"]
    api.post(f"/runs/{first}/cancel")
    assert [r["id"] for r in api.get("/runs", state="open").json()] == [second]
    assert [r["id"] for r in api.get("/runs", state="cancelled").json()] == [first]
    assert_refused(api.get("/runs", state="nonsense"), 422)


def test_the_run_page_shows_segments_checkpoints_and_figures(fed, api, user, other_user):
    run_id = create(api)["id"]
    job = segment_job(run_id)
    agent = agent_of(fed, job)
    agent.report(job.uid, "running")
    agent.checkpoints(job.uid, 10, when="2026-01-01T00:00:00+00:00")
    agent.checkpoints(job.uid, 30, when="2026-01-01T00:00:20+00:00")
    agent.report(job.uid, "failed", exit_code=3, gpu_seconds=3600.0)
    runs_advance()
    page = text(login(user).get(f"/runs/{run_id}/"))
    assert "step 30 of 100 (30 %)" in page and "GPU-hours</dt><dd>1.00" in page.replace(" <", "<").replace("> ", ">")
    assert "1.000 steps/s" in page and "Expected finish" in page
    assert "jupiter-a" in page and "/shared/runs/llm/step-00000030.pt" in page and "resumes from step 30" in page
    assert "3600 GPU-s" in page
    assert login(other_user).get(f"/runs/{run_id}/").status_code == 404
    assert login(other_user).post(f"/runs/{run_id}/cancel/").status_code in (302, 404)
    assert Run.objects.get(pk=run_id).state == "running"
    assert login(user).post(f"/runs/{run_id}/cancel/").status_code == 302
    assert Run.objects.get(pk=run_id).state == "cancelled"
    listing = text(login(user).get("/runs/"))
    assert "llm" in listing and "cancelled" in listing


def test_the_new_run_page_creates_a_run_and_shows_refusals(fed, user):
    client = login(user)
    form = {"organisation": fed.organisation.pk, "spec": "name: llm\nresources:\n  time_limit: 10m\ncommands:\n"
            "  - echo hi\n", "steps": "50", "checkpoint_every": "5", "checkpoint_dir": "/shared/llm"}
    response = client.post("/runs/new/", form)
    assert response.status_code == 302
    run = Run.objects.get()
    assert response["Location"] == f"/runs/{run.pk}/" and run.target_steps == 50
    page = text(client.post("/runs/new/", {**form, "checkpoint_dir": "not/absolute"}))
    assert "must be an absolute path" in page
    page = text(client.post("/runs/new/", {**form, "checkpoint_every": "500"}))
    assert "from 1 to the run&#x27;s steps" in page or "from 1 to the run's steps" in page
