"""POST /jobs with an Idempotency-Key: a client whose answer was lost sends the same request again with the same key
and gets the job it made, never a second one, nor a second reservation of its hours."""

from __future__ import annotations

from datetime import timedelta

import httpx
import pytest
from django.utils import timezone

from aifactory import sdk
from aifactory.core.jobspec import spec_from_dict
from aifactory.portal.allocations.models import Allocation
from aifactory.portal.jobs import services
from aifactory.portal.jobs.models import Job
from aifactory.portal.jobs.services import Once, job_submit_once, job_submit_spec
from aifactory.portal.jobs.tasks import forget_idempotency_keys
from aifactory.portal.organisations.services import api_token_create
from tests.conftest import DjangoTransport, OrganisationFactory, assert_refused
from tests.federation import Federation, job_spec, make_federation

pytestmark = pytest.mark.django_db


@pytest.fixture
def fed(make_site, site, organisation, user) -> Federation:
    return make_federation(make_site, site, organisation, user)


def reserved() -> int:
    return sum(a.gpu_seconds_reserved for a in Allocation.objects.all())


def test_the_same_key_twice_makes_one_job(api, fed):
    key = {"Idempotency-Key": "5b0c1f0e-1d1e-4f57-9a53-0a4f3b0f3c11"}
    first = api.post("/jobs", {"spec": job_spec(gpus_per_node=2)}, headers=key)
    assert first.status_code == 201, first.content
    assert "Idempotent-Replayed" not in first
    held = reserved()
    again = api.post("/jobs", {"spec": job_spec(gpus_per_node=2)}, headers=key)
    assert again.status_code == 201, again.content
    assert again["Idempotent-Replayed"] == "true"
    assert again.json()["uid"] == first.json()["uid"]
    assert again.json()["placements"] == first.json()["placements"]
    assert Job.objects.count() == 1 and reserved() == held == 2 * 600


def test_the_replay_shows_the_job_as_it_is_now(api, fed):
    key = {"Idempotency-Key": "k1"}
    uid = api.post("/jobs", {"spec": job_spec()}, headers=key).json()["uid"]
    Job.objects.filter(uid=uid).update(state="submitted", scheduler_id="42")
    out = api.post("/jobs", {"spec": job_spec()}, headers=key).json()
    assert (out["uid"], out["state"], out["scheduler_id"]) == (uid, "submitted", "42")


def test_without_a_key_each_request_is_a_job(api, fed):
    uids = {api.post("/jobs", {"spec": job_spec()}).json()["uid"] for _ in range(2)}
    assert len(uids) == 2 and Job.objects.count() == 2


def test_a_script_job_with_a_key(api, fed):
    body = {"allocation": fed.on_leonardo.pk, "name": "s", "script": "echo hi", "gpus": 1, "time_limit_s": 600}
    first = api.post("/jobs", body, headers={"Idempotency-Key": "script-1"})
    again = api.post("/jobs", body, headers={"Idempotency-Key": "script-1"})
    assert first.status_code == again.status_code == 201
    assert first.json()["uid"] == again.json()["uid"] and Job.objects.count() == 1


def test_the_key_with_another_request_is_refused(api, fed):
    key = {"Idempotency-Key": "k2"}
    uid = api.post("/jobs", {"spec": job_spec(name="one")}, headers=key).json()["uid"]
    answer = assert_refused(api.post("/jobs", {"spec": job_spec(name="two")}, headers=key), 422)
    assert answer["detail"] == {"field": "Idempotency-Key", "job": uid}
    assert "another submission" in answer["message"]
    assert Job.objects.count() == 1


@pytest.mark.parametrize("key", ["", "a b", "x" * 129, "clé"])
def test_a_malformed_key_is_refused(api, fed, key):
    answer = assert_refused(api.post("/jobs", {"spec": job_spec()}, headers={"Idempotency-Key": key}), 400)
    assert answer["detail"] == {"field": "Idempotency-Key"}
    assert Job.objects.count() == 0


def test_keys_are_each_persons_own(api, api_for, fed, other_user):
    fed.organisation.members.add(other_user)
    key = {"Idempotency-Key": "shared-words"}
    mine = api.post("/jobs", {"spec": job_spec()}, headers=key).json()["uid"]
    theirs = api_for(other_user).post("/jobs", {"spec": job_spec()}, headers=key).json()["uid"]
    assert mine != theirs and Job.objects.count() == 2


def test_a_key_does_not_show_another_organisations_job(api, api_for, fed, other_user):
    """A person who left the organisation cannot read its job through a replay: the replay reads as they may."""
    key = {"Idempotency-Key": "left"}
    api.post("/jobs", {"spec": job_spec()}, headers=key)
    fed.organisation.members.remove(fed.user)
    OrganisationFactory(members=[fed.user])
    assert_refused(api.post("/jobs", {"spec": job_spec()}, headers=key), 404)
    assert Job.objects.count() == 1


def test_two_requests_with_one_key_at_once(fed, monkeypatch):
    """The second request looked before the first committed: its insert meets the constraint, its reservation is
    rolled back, and it answers with the first's job."""
    spec = spec_from_dict(job_spec(gpus_per_node=2))
    once = Once(key="race", digest="d" * 64)
    first = job_submit_spec(user=fed.user, spec=spec, organisation=fed.organisation, once=once)
    held = reserved()
    looks = []
    real = services._submitted_with

    def not_yet_committed(*, user, once):
        looks.append(once.key)
        return None if len(looks) == 1 else real(user=user, once=once)

    monkeypatch.setattr(services, "_submitted_with", not_yet_committed)
    job, replayed = job_submit_once(user=fed.user, once=once, submit=lambda: job_submit_spec(
        user=fed.user, spec=spec, organisation=fed.organisation, once=once))
    assert (job.uid, replayed, looks) == (first.uid, True, ["race", "race"])
    assert Job.objects.count() == 1 and reserved() == held


class LostAnswer(httpx.BaseTransport):
    """The portal takes the first request, but its answer never comes back (the connection drops)."""

    def __init__(self) -> None:
        self.portal = DjangoTransport()
        self.keys: list[str | None] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.keys.append(request.headers.get("Idempotency-Key"))
        response = self.portal.handle_request(request)
        if len(self.keys) == 1:
            raise httpx.ReadError("connection reset by peer", request=request)
        return response


def test_the_sdk_sends_a_lost_submission_again_with_its_key(fed, user, monkeypatch):
    monkeypatch.setattr(sdk, "RETRY_PAUSE_S", 0.0)
    lost = LostAnswer()
    client = sdk.Client("http://portal", api_token_create(user=user), transport=lost)
    out = client.submit_spec(job_spec())
    assert len(lost.keys) == 2 and lost.keys[0] == lost.keys[1] and lost.keys[0]
    assert Job.objects.get().uid == out["uid"]


def test_a_key_is_kept_for_a_day_then_forgotten(api, fed, settings):
    """The key answers with its job while it is kept; once the hourly task forgot it, the same key makes a new job
    (and a key of a job younger than the keep time is not touched)."""
    settings.IDEMPOTENCY_KEEP_H = 24
    key = {"Idempotency-Key": "kept-a-day"}
    first = api.post("/jobs", {"spec": job_spec()}, headers=key).json()["uid"]
    young = api.post("/jobs", {"spec": job_spec()}, headers={"Idempotency-Key": "young"}).json()["uid"]
    assert services.job_idempotency_keys_forget() == 0
    assert api.post("/jobs", {"spec": job_spec()}, headers=key).json()["uid"] == first
    Job.objects.filter(uid=first).update(created_at=timezone.now() - timedelta(hours=25))
    assert forget_idempotency_keys.call() == 1
    assert Job.objects.get(uid=first).idempotency_key == "" and Job.objects.get(uid=young).idempotency_key == "young"
    again = api.post("/jobs", {"spec": job_spec()}, headers=key)
    assert again.status_code == 201 and "Idempotent-Replayed" not in again
    assert again.json()["uid"] != first and Job.objects.count() == 3
