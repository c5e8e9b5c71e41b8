"""Support requests: routing by the single point of contact, the thread, states, mail, refusals, who sees what."""

from __future__ import annotations

from datetime import timedelta
from itertools import product

import pytest
from django.core import mail
from django.utils import timezone

from aifactory.core.exceptions import InvalidTransition
from aifactory.core.support import add_working_days
from aifactory.portal.mail.models import OutgoingMail
from aifactory.portal.organisations.services import role_grant
from aifactory.portal.periodic.services import periodic_enqueue_due
from aifactory.portal.support.choices import REQUEST_TRANSITIONS, RequestState, check_request_transition
from aifactory.portal.support.models import SupportRequest
from aifactory.portal.support.selectors import centre_queue, clock_of
from aifactory.portal.support.services import requests_escalate
from tests.conftest import UserFactory, login, run_worker

pytestmark = pytest.mark.django_db

EDGES = {
    ("new", "assigned"), ("new", "closed"),
    ("assigned", "waiting_user"), ("assigned", "answered"), ("assigned", "closed"),
    ("waiting_user", "assigned"), ("waiting_user", "closed"),
    ("answered", "assigned"), ("answered", "closed"),
}


def deliver():
    """Run the task worker once: it delivers the queued mail."""
    run_worker()


def test_the_state_machine_allows_exactly_these_moves():
    for a, b in product(RequestState, RequestState):
        if (a.value, b.value) in EDGES:
            check_request_transition(a.value, b)
        else:
            with pytest.raises(InvalidTransition):
                check_request_transition(a.value, b)
    assert {(a.value, b.value) for a, targets in REQUEST_TRANSITIONS.items() for b in targets} == EDGES


@pytest.fixture
def staff_it4lia(db):
    person = UserFactory(username="sofia")
    role_grant(user=person, role="factory_operator", factory="it4lia", granted_by=None)
    return person


def _open(api, org, **over):
    body = {"organisation": org.pk, "topic": "porting", "title": "NCCL hangs on 64 nodes",
            "text": "All-reduce stalls after 10 minutes.", "machine": "leonardo"}
    body.update(over)
    return api.post("/support/requests", body)


def test_a_request_from_opening_to_answer_within_its_clock(api, organisation, staff_it4lia, api_for,
                                                          django_capture_on_commit_callbacks):
    opened = _open(api, organisation)
    assert opened.status_code == 201, opened.content
    row = opened.json()
    assert row["state"] == "assigned" and row["centre"] == "it4lia"
    assert any("Leonardo" in r for r in row["route_reasons"])
    assert row["clock"]["state"] in ("ok", "near") and row["sla_working_days"] == 3
    assert list(row) == ["id", "organisation", "topic", "sector", "machine", "factory", "title", "state", "centre",
                         "route_reasons", "sla_working_days", "opened_at", "first_answered_at", "clock", "messages",
                         "history"]
    assert (row["organisation"], row["topic"], row["machine"], row["title"], row["first_answered_at"]) == (
        organisation.pk, "porting", "leonardo", "NCCL hangs on 64 nodes", None)
    assert list(row["clock"]) == ["due", "state", "working_days_left", "escalated"]
    assert row["messages"] == [{"kind": "request", "author": "alice", "body": "All-reduce stalls after 10 minutes.",
                                "at": row["messages"][0]["at"], "mailed_to": ""}]
    assert [list(h) for h in row["history"]] == [["from_state", "to_state", "reason", "at"]] * 2
    assert api.get(f"/support/requests/{row['id']}").json() == row
    staff = api_for(staff_it4lia)
    assert [r["id"] for r in staff.get("/support/centres/it4lia/requests").json()] == [row["id"]]
    with django_capture_on_commit_callbacks(execute=True):
        asked = staff.post(f"/support/requests/{row['id']}/ask", {"body": "Which NCCL version?"})
    assert asked.json()["state"] == "waiting_user"
    deliver()
    assert len(mail.outbox) == 1 and mail.outbox[0].to == ["alice@example.org"]
    assert api.post(f"/support/requests/{row['id']}/reply", {"body": "2.21"}).json()["state"] == "assigned"
    with django_capture_on_commit_callbacks(execute=True):
        answered = staff.post(f"/support/requests/{row['id']}/answer", {"body": "Set NCCL_IB_TIMEOUT=22."})
    data = answered.json()
    assert data["state"] == "answered" and data["clock"]["state"] == "met"
    deliver()
    assert len(mail.outbox) == 2 and "NCCL_IB_TIMEOUT" in mail.outbox[1].body
    assert api.get(f"/support/requests/{row['id']}").json()["messages"][-1]["mailed_to"] == "alice@example.org"
    assert [m["kind"] for m in data["messages"]] == ["request", "question", "reply", "answer"]
    assert [(h["from_state"], h["to_state"]) for h in data["history"]] == [
        ("", "new"), ("new", "assigned"), ("assigned", "waiting_user"), ("waiting_user", "assigned"),
        ("assigned", "answered")]
    closed = api.post(f"/support/requests/{row['id']}/close", {"reason": "solved"})
    assert closed.json()["state"] == "closed"
    again = staff.post(f"/support/requests/{row['id']}/answer", {"body": "more"})
    assert again.status_code == 409


def test_a_late_first_answer_is_escalated_then_missed(api, organisation, staff_it4lia, api_for):
    row = _open(api, organisation).json()
    SupportRequest.objects.filter(pk=row["id"]).update(opened_at=timezone.now() - timedelta(days=14))
    request = SupportRequest.objects.get(pk=row["id"])
    clock = clock_of(request)
    assert clock is not None and clock.state == "overdue" and clock.escalated
    queue = centre_queue(request.centre)
    assert queue[0].request.pk == row["id"]
    page = login(staff_it4lia).get("/support/")
    assert b"Escalated" in page.content and b"overdue" in page.content
    answered = api_for(staff_it4lia).post(f"/support/requests/{row['id']}/answer", {"body": "late"}).json()
    assert answered["clock"]["state"] == "missed"


def test_refusals_name_the_field(api, organisation):
    assert _open(api, organisation, topic="teleport").json()["detail"] == {"field": "topic"}
    assert _open(api, organisation, machine="nope").json()["detail"] == {"field": "machine"}
    assert _open(api, organisation, factory="lumi-aif").json()["detail"] == {"field": "factory"}
    assert _open(api, organisation, factory="nowhere", machine=None).json()["detail"] == {"field": "factory"}
    assert _open(api, organisation, title="   ").json()["detail"] == {"field": "title"}
    too_long = _open(api, organisation, text="x" * 20_001)
    assert too_long.status_code == 422 and "text" in too_long.json()["message"]
    assert _open(api, organisation, organisation="1").status_code == 422
    assert api.post("/support/requests", {"organisation": organisation.pk}).status_code == 422


def test_others_neither_see_nor_act(api, organisation, other_api, staff_it4lia, api_for):
    row = _open(api, organisation).json()
    assert other_api.get(f"/support/requests/{row['id']}").status_code == 404
    assert other_api.post(f"/support/requests/{row['id']}/reply", {"body": "x"}).status_code == 404
    assert other_api.get("/support/requests").json() == []
    assert _open(other_api, organisation).status_code == 404  # not her organisation
    lumi = UserFactory(username="lumi-staff")
    role_grant(user=lumi, role="factory_operator", factory="lumi-aif", granted_by=None)
    assert api_for(lumi).get(f"/support/requests/{row['id']}").status_code == 404
    assert api_for(lumi).get("/support/centres/it4lia/requests").status_code == 403
    assert api.post(f"/support/requests/{row['id']}/answer", {"body": "self"}).status_code == 403
    assert api.post("/support/centres/it4lia/sla", {"days": 1}).status_code == 403
    staff = api_for(staff_it4lia)
    assert staff.post("/support/centres/it4lia/sla", {"days": 0}).status_code == 422
    assert staff.post("/support/centres/it4lia/sla", {"days": 2}).json() == {"centre": "it4lia",
                                                                             "first_answer_working_days": 2}
    assert staff.post(f"/support/requests/{row['id']}/reply", {"body": "x"}).status_code == 403


def test_staff_hand_a_request_on_with_a_reason(api, organisation, staff_it4lia, api_for):
    row = _open(api, organisation).json()
    staff = api_for(staff_it4lia)
    assert staff.post(f"/support/requests/{row['id']}/reassign", {"centre": "it4lia", "reason": "x"}).status_code \
        == 400
    moved = staff.post(f"/support/requests/{row['id']}/reassign", {"centre": "jaif", "reason": "JUPITER question"})
    assert moved.json()["centre"] == "jaif" and "JUPITER question" in moved.json()["route_reasons"][0]
    assert staff.get(f"/support/requests/{row['id']}").status_code == 404  # no longer theirs


def test_the_centres_catalog_is_public_with_sources_and_unknowns(anon):
    centres = anon.get("/support/centres").json()
    it4lia = next(c for c in centres if c["key"] == "it4lia")
    assert it4lia["offers"]["porting"]["offered"] is True and it4lia["offers"]["porting"]["source"]
    assert it4lia["offers"]["ai_act"] == {"offered": None, "source": None}
    assert it4lia["sla_working_days"] == 3 and "default" in it4lia["sla_basis"]


def test_pages_walk_a_request(user, organisation, staff_it4lia, django_capture_on_commit_callbacks):
    client = login(user)
    assert client.get("/support/new/").status_code == 200
    response = client.post("/support/new/", {"organisation": organisation.pk, "topic": "domain", "sector": "agrifood",
                                             "machine": "", "factory": "", "title": "Crop yield model",
                                             "text": "Which centre knows agrifood?"})
    assert response.status_code == 302, response.content
    request = SupportRequest.objects.get()
    assert request.centre is not None and request.centre.key in {"it4lia", "bsc-aif", "1healthai"}
    page = client.get(response["Location"])
    assert b"Why this centre" in page.content and b"agrifood" in page.content
    refused = client.post("/support/new/", {"organisation": organisation.pk, "topic": "porting", "machine": "leonardo",
                                            "factory": "lumi-aif", "title": "t", "text": "x"})
    assert refused.status_code == 200 and b"belongs to" in refused.content
    if request.centre.key != "it4lia":
        role_grant(user=staff_it4lia, role="factory_operator", factory=request.centre.factory, granted_by=None)
    staff = login(staff_it4lia)
    assert staff.get(f"/support/centres/{request.centre.key}/").status_code == 200
    with django_capture_on_commit_callbacks(execute=True):
        staff.post(f"/support/requests/{request.pk}/answer/", {"body": "Here is how."})
    request.refresh_from_db()
    deliver()
    assert request.state == "answered" and len(mail.outbox) == 1
    empty = staff.post(f"/support/requests/{request.pk}/answer/", {"body": ""})
    assert empty.status_code == 302
    assert login(UserFactory(username="eve")).get(f"/support/requests/{request.pk}/").status_code == 404


# --- escalation by mail ----------------------------------------------------------------------------------------------


def test_an_escalated_request_is_mailed_to_the_centres_operators_once_per_state(api, organisation, staff_it4lia):
    row = _open(api, organisation).json()
    request = SupportRequest.objects.get(pk=row["id"])
    opened = timezone.localdate(request.opened_at)
    due = add_working_days(opened, request.sla_working_days)
    assert requests_escalate(today=opened) == []  # three working days left: ok
    near = requests_escalate(today=due)
    assert [(r.pk, state) for r, state in near] == [(request.pk, "near")]
    assert requests_escalate(today=due) == []  # once
    overdue = requests_escalate(today=due + timedelta(days=7))
    assert [(r.pk, state) for r, state in overdue] == [(request.pk, "overdue")]
    mails = list(OutgoingMail.objects.filter(key__startswith="support-escalation-").order_by("pk"))
    assert [m.to for m in mails] == [[staff_it4lia.email]] * 2
    assert "(near)" in mails[0].subject and "(overdue)" in mails[1].subject
    assert f"/support/requests/{request.pk}/" in mails[0].body


def test_an_answered_request_is_not_escalated(api, organisation, staff_it4lia, api_for):
    row = _open(api, organisation).json()
    api_for(staff_it4lia).post(f"/support/requests/{row['id']}/answer", {"body": "done"})
    assert requests_escalate(today=timezone.localdate() + timedelta(days=30)) == []


def test_the_periodic_task_escalates(api, organisation, staff_it4lia):
    row = _open(api, organisation).json()
    SupportRequest.objects.filter(pk=row["id"]).update(opened_at=timezone.now() - timedelta(days=14))
    periodic_enqueue_due()
    deliver()
    escalations = [m for m in mail.outbox if "Escalated" in m.subject]
    assert [m.to for m in escalations] == [[staff_it4lia.email]]
