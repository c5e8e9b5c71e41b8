"""Teams: roles, invitations (expiry, single use, the invited address, signed in), removal, the audit log."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from aifactory.core.exceptions import InvalidTransition
from aifactory.portal.common.errors import Conflict, Forbidden, Gone, NotFound
from aifactory.portal.mail.models import OutgoingMail
from aifactory.portal.organisations.choices import INVITATION_MOVES
from aifactory.portal.organisations.models import Invitation, Membership, TeamEvent
from aifactory.portal.organisations.services import (
    invitation_accept,
    invitation_create,
    invitation_revoke,
    invitation_send,
    membership_remove,
    membership_set_role,
    organisation_register,
)
from tests.conftest import OrganisationFactory, UserFactory, assert_refused, login, run_worker, text

pytestmark = pytest.mark.django_db


def test_invitation_moves_are_exactly_these() -> None:
    assert {(str(a), str(m)): str(b) for (a, m), b in INVITATION_MOVES.items()} == {
        ("pending", "accept"): "accepted",
        ("pending", "revoke"): "revoked",
    }


def test_registering_makes_the_person_pi_and_logs_it(user: Any) -> None:
    from decimal import Decimal

    org = organisation_register(user=user, name="Lab", country="DE", headcount=3, turnover_eur=Decimal(1),
                                balance_sheet_eur=Decimal(1), sector="health")
    assert Membership.objects.get(organisation=org, user=user).role == "pi"
    assert list(org.members.all()) == [user]
    assert [(e.action, e.subject, e.role) for e in TeamEvent.objects.filter(organisation=org)] == [
        ("created", "alice", "pi")]


def test_invite_accept_once_and_audit(organisation: Any, user: Any) -> None:
    bob = UserFactory(username="bob", email="Bob@Example.org")
    invitation, link = invitation_send(organisation=organisation, invited_by=user, email="bob@example.org",
                                       role="member", base_url="http://portal.test/")
    token = link.rstrip("/").rsplit("/", 1)[1]
    assert link == f"http://portal.test/invitations/{token}/"
    assert token not in invitation.token_digest  # only a digest is stored
    mail = OutgoingMail.objects.get(kind="invitation")
    assert mail.to == ["bob@example.org"] and link in mail.body and mail.state == "queued"

    membership = invitation_accept(token=token, user=bob)
    assert membership.role == "member"
    invitation.refresh_from_db()
    assert invitation.state == "accepted" and invitation.accepted_by == bob
    with pytest.raises(Gone, match="used already"):
        invitation_accept(token=token, user=bob)
    assert [(e.action, e.subject) for e in TeamEvent.objects.filter(organisation=organisation)] == [
        ("invited", "bob@example.org"), ("accepted", "bob")]


def test_invitation_refusals(organisation: Any, user: Any) -> None:
    bob = UserFactory(username="bob", email="bob@example.org")
    eve = UserFactory(username="eve", email="eve@example.org")
    with pytest.raises(NotFound):
        invitation_accept(token="aifi_nothing-like-it", user=bob)
    invitation, token = invitation_create(organisation=organisation, invited_by=user, email="bob@example.org")
    with pytest.raises(Forbidden, match="sent to bob@example.org"):
        invitation_accept(token=token, user=eve)  # a forwarded link does not work for someone else
    with pytest.raises(Conflict, match="open invitation already"):
        invitation_create(organisation=organisation, invited_by=user, email="BOB@example.org")
    with pytest.raises(Conflict, match="already in the team"):
        invitation_create(organisation=organisation, invited_by=user, email="alice@example.org")
    with pytest.raises(Forbidden):
        invitation_create(organisation=organisation, invited_by=eve, email="x@example.org")

    Invitation.objects.filter(pk=invitation.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    with pytest.raises(Gone, match="expired"):
        invitation_accept(token=token, user=bob)
    invitation_revoke(invitation=invitation, actor=user)
    with pytest.raises(Gone, match="revoked"):
        invitation_accept(token=token, user=bob)
    with pytest.raises(InvalidTransition):
        invitation_revoke(invitation=invitation, actor=user)
    assert not organisation.memberships.filter(user=bob).exists()


def test_roles_and_removal_keep_one_pi(organisation: Any, user: Any) -> None:
    bob = UserFactory(username="bob")
    Membership.objects.create(organisation=organisation, user=bob, role="member")
    with pytest.raises(Forbidden):
        membership_set_role(organisation=organisation, user=user, role="member", actor=bob)
    with pytest.raises(Forbidden):
        membership_remove(organisation=organisation, user=user, actor=bob)
    with pytest.raises(Conflict, match="last principal investigator"):
        membership_set_role(organisation=organisation, user=user, role="member", actor=user)
    with pytest.raises(Conflict, match="last principal investigator"):
        membership_remove(organisation=organisation, user=user, actor=user)
    membership_set_role(organisation=organisation, user=bob, role="pi", actor=user)
    membership_set_role(organisation=organisation, user=user, role="contact", actor=bob)
    membership_remove(organisation=organisation, user=user, actor=bob)
    assert list(organisation.members.all()) == [bob]
    assert [e.action for e in TeamEvent.objects.filter(organisation=organisation)] == [
        "role_changed", "role_changed", "removed"]


def test_team_api(organisation: Any, user: Any, api: Any, api_for: Any, other_api: Any) -> None:
    bob = UserFactory(username="bob", email="bob@example.org")
    bob_api = api_for(bob)
    org = organisation.pk
    assert_refused(api.post(f"/organisations/{org}/invitations", {"email": "not-an-address"}), 400)
    assert_refused(api.post(f"/organisations/{org}/invitations", {"email": "b@example.org", "role": "boss"}), 400)
    assert_refused(other_api.post(f"/organisations/{org}/invitations", {"email": "b@example.org"}), 404)
    sent = api.post(f"/organisations/{org}/invitations", {"email": "bob@example.org", "role": "contact"})
    assert sent.status_code == 201, sent.content
    token = sent.json()["link"].rstrip("/").rsplit("/", 1)[1]
    invitation = sent.json()
    assert list(invitation) == ["id", "email", "role", "state", "open", "invited_by", "created_at", "expires_at",
                                "link"]
    assert (invitation["email"], invitation["role"], invitation["state"], invitation["open"],
            invitation["invited_by"]) == ("bob@example.org", "contact", "pending", True, "alice")
    assert api.get(f"/organisations/{org}/invitations").json() == [
        {k: v for k, v in invitation.items() if k != "link"}]
    assert_refused(other_api.post("/invitations/accept", {"token": token}), 403)
    accepted = bob_api.post("/invitations/accept", {"token": token})
    assert accepted.status_code == 201
    assert accepted.json() == {"organisation": org, "username": "bob", "role": "contact"}
    assert_refused(bob_api.post("/invitations/accept", {"token": token}), 410)
    assert sorted((m["username"], m["role"]) for m in bob_api.get(f"/organisations/{org}/members").json()) == [
        ("alice", "pi"), ("bob", "contact")]
    assert_refused(bob_api.get(f"/organisations/{org}/invitations"), 403)  # the PI's view only
    headers = bob_api.headers
    refused = bob_api.client.delete(f"/api/v1/organisations/{org}/members/alice", headers=headers)
    assert_refused(refused, 403)
    changed = api.client.patch(f"/api/v1/organisations/{org}/members/bob", data=json.dumps({"role": "member"}),
                               content_type="application/json", headers=api.headers)
    assert changed.status_code == 200 and changed.json()["role"] == "member"
    assert {k: v for k, v in changed.json().items() if k != "added_at"} == {
        "username": "bob", "name": bob.get_full_name(), "email": "bob@example.org", "role": "member"}
    removed = api.client.delete(f"/api/v1/organisations/{org}/members/bob", headers=api.headers)
    assert removed.status_code == 204
    assert_refused(bob_api.get(f"/organisations/{org}/members"), 404)
    log = api.get(f"/organisations/{org}/team-log").json()
    assert [e["action"] for e in log] == ["invited", "accepted", "role_changed", "removed"]
    assert [(e["actor"], e["subject"]) for e in log] == [("alice", "bob@example.org"), ("bob", "bob"),
                                                          ("alice", "bob"), ("alice", "bob")]


def test_an_invitation_revoked_by_the_api(organisation: Any, user: Any, api: Any, other_api: Any) -> None:
    org = organisation.pk
    sent = api.post(f"/organisations/{org}/invitations", {"email": "carol@example.org"}).json()
    path = f"/api/v1/organisations/{org}/invitations/{sent['id']}"
    assert_refused(other_api.client.delete(path, headers=other_api.headers), 404)
    assert_refused(api.client.delete(f"/api/v1/organisations/{org}/invitations/424242", headers=api.headers), 404)
    revoked = api.client.delete(path, headers=api.headers)
    assert revoked.status_code == 200
    assert revoked.json() == {**{k: v for k, v in sent.items() if k != "link"}, "state": "revoked", "open": False}


def test_team_pages(organisation: Any, user: Any) -> None:
    bob = UserFactory(username="bob", email="bob@example.org")
    pi = login(user)
    page = pi.get(f"/organisations/{organisation.pk}/team/")
    assert page.status_code == 200 and "Invite a colleague" in text(page)
    bad = pi.post(f"/organisations/{organisation.pk}/team/invite/", {"email": "nope", "role": "member"})
    assert bad.status_code == 400 and "Enter a valid email address" in text(bad)
    sent = pi.post(f"/organisations/{organisation.pk}/team/invite/", {"email": "bob@example.org", "role": "member"})
    assert sent.status_code == 302
    link = OutgoingMail.objects.get(kind="invitation").body.split("http://testserver", 1)[1].split()[0]
    assert login(UserFactory(username="nobody")).get(f"/organisations/{organisation.pk}/team/").status_code == 404
    anonymous = login(bob)
    anonymous.logout()
    assert anonymous.get(link).status_code == 302  # signing in comes first
    member = login(bob)
    assert "Accept and join" in text(member.get(link))
    assert member.post(link).status_code == 302
    again = member.post(link)
    assert again.status_code == 400 and "used already" in text(again)
    assert "Invite a colleague" not in text(member.get(f"/organisations/{organisation.pk}/team/"))
    refused = member.post(f"/organisations/{organisation.pk}/team/alice/remove/", follow=True)
    assert "principal investigator (or staff) manages its team" in text(refused)
    assert organisation.members.filter(pk=user.pk).exists()
    assert pi.post(f"/organisations/{organisation.pk}/team/bob/remove/").status_code == 302
    assert not organisation.members.filter(pk=bob.pk).exists()


def test_mail_of_invitation_is_delivered_by_the_worker(organisation: Any, user: Any, mailoutbox: list[Any]) -> None:
    invitation_send(organisation=organisation, invited_by=user, email="carol@example.org",
                    base_url="http://portal.test/")
    assert mailoutbox == []  # the request only queued it
    run_worker()
    assert [m.to for m in mailoutbox] == [["carol@example.org"]]
    assert OutgoingMail.objects.get().state == "sent"


def test_a_factory_member_is_pi(db: None) -> None:
    alice = UserFactory(username="alice2")
    org = OrganisationFactory(members=[alice])
    assert Membership.objects.get(organisation=org).role == "pi"
