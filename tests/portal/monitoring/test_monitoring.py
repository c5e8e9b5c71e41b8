"""The AI Office's objectives: every KPI computed from the portal's records, the observer's page, exports, metrics."""

from __future__ import annotations

import csv
import io
import json

import pytest
from django.test import Client
from django.utils import timezone

from aifactory.portal.allocations.models import UsageCharge
from aifactory.portal.matchmaking.services import (
    challenge_post,
    interest_express,
    match_collaboration,
    profile_save,
)
from aifactory.portal.monitoring.models import Objective
from aifactory.portal.monitoring.services import objective_update, objectives_sync
from aifactory.portal.organisations.services import api_token_create, role_grant
from aifactory.portal.support.services import request_answer, request_open
from tests.conftest import AllocationFactory, JobFactory, OrganisationFactory, UserFactory, login

pytestmark = pytest.mark.django_db


@pytest.fixture
def observer(db):
    person = UserFactory(username="otto")
    role_grant(user=person, role="observer", granted_by=None)
    objectives_sync()
    return person


def values(api):
    return {o["kpi"]: o["value"] for o in api.get("/monitoring/objectives").json()["objectives"]}


def test_every_kpi_moves_with_the_records(observer, api_for, organisation, user):
    api = api_for(observer)
    before = values(api)
    assert before == {"startups_served": 0, "median_days_to_first_job": None, "gpu_hours_delivered": 0,
                      "open_science_met_share": None, "support_within_sla": None, "matches_to_collaboration": 0}
    allocation = AllocationFactory(application__organisation=organisation, application__submitted_by=user)
    job = JobFactory(allocation=allocation)
    UsageCharge.objects.create(allocation=allocation, job=job, gpu_seconds=7200)
    staff = UserFactory(username="sofia")
    role_grant(user=staff, role="factory_operator", factory="it4lia", granted_by=None)
    request = request_open(user=user, organisation=organisation, topic="porting", title="t", text="x",
                           machine_key="leonardo")
    request_answer(request=request, user=staff, body="done")
    carla = UserFactory(username="carla")
    company = OrganisationFactory(name="Big", sme_category="large", members=[carla])
    challenge = challenge_post(user=carla, organisation=company, title="c", description="d", sector="health",
                               model_types=["vision"], data_kinds=[])
    profile = profile_save(user=user, organisation=organisation, sectors=["health"], model_types=["vision"],
                           data_kinds=[], team_size=3)
    interest_express(user=carla, challenge=challenge, profile=profile)
    match = interest_express(user=user, challenge=challenge, profile=profile)
    match_collaboration(user=carla, match=match)
    after = values(api)
    assert after["startups_served"] == 1
    assert after["median_days_to_first_job"] is not None and after["median_days_to_first_job"] >= 0
    assert after["gpu_hours_delivered"] == 2.0
    assert after["support_within_sla"] == 1.0
    shares = {o["kpi"]: o["basis"] for o in api.get("/monitoring/objectives").json()["objectives"]}
    assert shares["support_within_sla"] == {"met": 1, "of": 1} and shares["open_science_met_share"] == {
        "met": 0, "of": 0}
    assert after["matches_to_collaboration"] == 1
    data = api.get("/monitoring/objectives").json()
    assert data["details"]["gpu_hours"] == {"sector": {"health": 2.0}, "country": {"DE": 2.0}}
    row = next(o for o in data["objectives"] if o["kpi"] == "gpu_hours_delivered")
    assert row["status"] in ("on track", "behind") and row["series"][-1]["value"] == 2.0
    assert row["series"][0]["date"] == row["start"] and len(row["series"]) >= 2
    assert "UsageCharge" in row["computed_from"]


def test_the_observer_page_exports_and_metrics(observer, api_for):
    client = login(observer)
    page = client.get("/monitoring/")
    assert page.status_code == 200 and page.content.count(b"<svg") == 6
    rows = list(csv.DictReader(io.StringIO(client.get("/monitoring/objectives.csv").content.decode())))
    assert {r["objective"] for r in rows} == set(Objective.objects.values_list("key", flat=True))
    assert {"date", "value", "expected", "status"} <= set(rows[0])
    exported = json.loads(client.get("/monitoring/objectives.json").content)
    assert len(exported["objectives"]) == 6
    metrics = client.get("/metrics")
    assert metrics.status_code == 200 and metrics["Content-Type"].startswith("text/plain")
    text = metrics.content.decode()
    assert 'aifactory_objective_target{kpi="startups_served",objective="startups-served"} 100.0' in text
    assert "aifactory_support_requests_open 0.0" in text
    token = api_token_create(user=observer)
    assert Client().get("/metrics", headers={"Authorization": f"Bearer {token}"}).status_code == 200
    assert Client().get("/metrics").status_code == 401
    assert Client().get("/metrics", headers={"Authorization": "Bearer nope"}).status_code == 401


def test_only_observers_see_the_objectives_and_only_staff_change_them(observer, api, user):
    assert api.get("/monitoring/objectives").status_code == 403
    assert login(user).get("/monitoring/").status_code == 403
    assert login(user).get("/metrics").status_code == 403
    o = Objective.objects.get(key="startups-served")
    with pytest.raises(Exception, match="staff"):
        objective_update(user=observer, objective=o, target=5)
    root = UserFactory(username="root", is_staff=True)
    assert objective_update(user=root, objective=o, target=5).target == 5
    with pytest.raises(Exception, match="deadline"):
        objective_update(user=root, objective=o, deadline=o.start)
    assert timezone.now()
