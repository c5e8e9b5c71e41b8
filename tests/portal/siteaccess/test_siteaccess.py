"""Site accounts per person, SSH keys and certificates through the API; the agent's orders; the broker's rule."""

from __future__ import annotations

import struct
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from cryptography.hazmat.primitives.serialization import load_ssh_public_identity
from django.test import override_settings

from aifactory.core.exceptions import InvalidTransition
from aifactory.portal.federation.services import terms_accept, terms_publish
from aifactory.portal.siteaccess.choices import (
    SITE_ACCOUNT_TRANSITIONS,
    SiteAccountState,
    check_site_account_transition,
)
from aifactory.portal.siteaccess.models import SiteAccount, SiteAccountChange
from aifactory.portal.siteaccess.services import site_username
from tests.conftest import ApiClient, JobFactory, SiteWithToken, UserFactory, assert_refused
from tests.state_edges import SITE_ACCOUNT_EDGES, allowed


def test_the_site_account_moves_are_exactly_these() -> None:
    assert SITE_ACCOUNT_TRANSITIONS.edges() == SITE_ACCOUNT_EDGES
    for a in SiteAccountState:
        for b in SiteAccountState:
            if allowed(SITE_ACCOUNT_EDGES, a.value, b.value):
                check_site_account_transition(a.value, b)
            else:
                with pytest.raises(InvalidTransition):
                    check_site_account_transition(a.value, b)


def public_line() -> str:
    key = ed25519.Ed25519PrivateKey.generate()
    text = key.public_key().public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
    return text.decode() + " me@laptop"


@pytest.fixture
def personal_site(site: SiteWithToken) -> SiteWithToken:
    site.site.personal_accounts = True
    site.site.save()
    return site


@pytest.fixture
def bob(organisation: Any) -> Any:
    person = UserFactory(username="Bob.Smith")
    organisation.members.add(person)
    return person


def open_all(site_api: ApiClient) -> list[dict[str, Any]]:
    orders = site_api.get("/agent/site-accounts").json()
    for order in orders:
        assert site_api.post(f"/agent/site-accounts/{order['id']}", {"ok": True, "message": "done"}).status_code == 204
    return orders


def test_usernames_are_posix_and_stable(db: None) -> None:
    assert site_username(UserFactory(username="Alice")).startswith("alice")
    odd = UserFactory(username="42.Ölaf+x@example.org")
    assert site_username(odd) == f"laf{'x'}exampleorg"[:12] + f"{odd.pk:02d}"
    assert site_username(UserFactory(username="---")).startswith("u")


def test_every_member_gets_an_account_and_a_removed_member_is_closed(
    personal_site: SiteWithToken, site_api: ApiClient, allocation: Any, organisation: Any, user: Any, bob: Any,
    api: ApiClient,
) -> None:
    orders = site_api.get("/agent/site-accounts").json()
    assert sorted((o["action"], o["username"], o["account"], o["lock"]) for o in orders) == sorted([
        ("open", site_username(user), allocation.account, False),
        ("open", site_username(bob), allocation.account, False),
    ])
    assert site_api.get("/agent/site-accounts").json() == orders  # asked again: the same orders, nothing new
    failed = orders[0]
    assert site_api.post(f"/agent/site-accounts/{failed['id']}", {"ok": False, "message": "useradd: boom"}
                         ).status_code == 204
    assert SiteAccount.objects.get(pk=failed["id"]).state == "requested"  # kept open, tried again
    open_all(site_api)
    assert set(SiteAccount.objects.values_list("state", flat=True)) == {"active"}
    assert site_api.get("/agent/site-accounts").json() == []
    mine = api.get("/me/site-accounts").json()
    assert [(a["site"], a["username"], a["state"]) for a in mine] == [
        (personal_site.site.name, site_username(user), "active")]

    organisation.members.remove(bob)
    closing = site_api.get("/agent/site-accounts").json()
    assert [(o["action"], o["username"], o["lock"]) for o in closing] == [("close", site_username(bob), True)]
    open_all(site_api)
    account = SiteAccount.objects.get(user=bob)
    assert account.state == "closed"
    assert list(account.history.values_list("from_state", "to_state")) == [
        ("", "requested"), ("requested", "active"), ("active", "closing"), ("closing", "closed")]

    organisation.members.add(bob)  # back again: the same account reopens
    assert [o["action"] for o in site_api.get("/agent/site-accounts").json()] == ["open"]
    assert SiteAccountChange.objects.filter(account=account).count() == 5


def test_a_site_without_personal_accounts_opens_none(site_api: ApiClient, allocation: Any) -> None:
    assert site_api.get("/agent/site-accounts").json() == []
    assert not SiteAccount.objects.exists()


def test_an_agent_reports_only_on_its_own_sites_accounts(personal_site: SiteWithToken, site_api: ApiClient,
                                                         allocation: Any, make_site: Any) -> None:
    order = site_api.get("/agent/site-accounts").json()[0]
    other = ApiClient(make_site("leonardo-b").token)
    assert_refused(other.post(f"/agent/site-accounts/{order['id']}", {"ok": True}), 404)
    assert_refused(site_api.post(f"/agent/site-accounts/{order['id']}", {"ok": "maybe"}), 422)
    assert_refused(site_api.post("/agent/site-accounts/999999", {"ok": True}), 404)
    assert ApiClient().get("/agent/site-accounts").status_code == 401
    open_all(site_api)
    body = assert_refused(site_api.post(f"/agent/site-accounts/{order['id']}", {"ok": True}), 409)
    assert "nothing was asked" in body["message"]


# --- keys and certificates ----------------------------------------------------------------------------------------


@pytest.fixture
def active(personal_site: SiteWithToken, site_api: ApiClient, allocation: Any) -> SiteAccount:
    open_all(site_api)
    return SiteAccount.objects.get(username__startswith="alice")


def test_a_member_gets_a_certificate_for_their_own_principal(api: ApiClient, active: SiteAccount) -> None:
    line = public_line()
    key = api.post("/me/ssh-keys", {"public_key": line}).json()
    assert key["name"] == "me@laptop" and key["fingerprint"].startswith("SHA256:")
    assert list(key) == ["id", "name", "algorithm", "fingerprint", "public_key", "created_at", "revoked_at"]
    assert (key["algorithm"], key["public_key"], key["revoked_at"]) == ("ssh-ed25519", line.rsplit(" ", 1)[0], None)
    assert api.get("/me/ssh-keys").json() == [key]
    assert api.post("/me/ssh-keys", {"public_key": line}).json()["id"] == key["id"]  # the same key: the same row
    answer = api.post("/me/ssh-certificates", {"key": key["id"], "account": active.pk})
    assert answer.status_code == 201, answer.content
    cert = answer.json()
    assert list(cert) == ["id", "key", "account", "site", "serial", "principal", "valid_after", "valid_before",
                          "revoked_at", "certificate"]
    assert (cert["key"], cert["account"], cert["site"], cert["principal"], cert["revoked_at"]) == (
        key["id"], active.pk, active.site.name, active.username, None)
    loaded = load_ssh_public_identity(cert["certificate"].encode())
    assert loaded.valid_principals == [active.username.encode()]
    assert loaded.serial == cert["serial"]
    assert loaded.valid_before - loaded.valid_after == 8 * 3600 + 60  # the default, and a minute for clock skew
    ca_line = ApiClient().get("/ssh/ca.pub").content.decode().split()
    assert loaded.signature_key().public_bytes(serialization.Encoding.OpenSSH,
                                               serialization.PublicFormat.OpenSSH).decode() == " ".join(ca_line[:2])
    assert api.get("/me/ssh-certificates").json() == [cert]

    short = api.post("/me/ssh-certificates", {"key": key["id"], "account": active.pk, "hours": 0.5}).json()
    assert load_ssh_public_identity(short["certificate"].encode()).valid_before - \
        load_ssh_public_identity(short["certificate"].encode()).valid_after == 1800 + 60


@pytest.mark.parametrize(("body", "status", "field"), [
    ({"hours": 25}, 400, "hours"),
    ({"hours": 0}, 422, "hours"),
    ({"hours": "soon"}, 422, "hours"),
    ({"key": 999999}, 404, "key"),
    ({"account": 999999}, 404, "account"),
])
def test_certificate_refusals_name_the_field(api: ApiClient, active: SiteAccount, body: dict[str, Any], status: int,
                                             field: str) -> None:
    key = api.post("/me/ssh-keys", {"public_key": public_line()}).json()
    refused = assert_refused(api.post("/me/ssh-certificates", {"key": key["id"], "account": active.pk, **body}),
                             status)
    assert field in refused["message"] or field in str(refused["detail"])


@override_settings(SSH_CERT_MAX_HOURS=2, SSH_CERT_DEFAULT_HOURS=1)
def test_the_lifetime_settings_hold(api: ApiClient, active: SiteAccount) -> None:
    key = api.post("/me/ssh-keys", {"public_key": public_line()}).json()
    body = assert_refused(api.post("/me/ssh-certificates", {"key": key["id"], "account": active.pk, "hours": 3}), 400)
    assert "at most 2" in body["message"]
    cert = api.post("/me/ssh-certificates", {"key": key["id"], "account": active.pk}).json()
    assert load_ssh_public_identity(cert["certificate"].encode()).valid_before - \
        load_ssh_public_identity(cert["certificate"].encode()).valid_after == 3600 + 60


@pytest.mark.parametrize("text", ["", "ssh-dss AAAAB3NzaC1kc3M", "not a key", "ssh-ed25519 AAAA\nssh-ed25519 AAAA",
                                  "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIA=="])
def test_bad_keys_are_refused_naming_the_field(api: ApiClient, text: str) -> None:
    body = assert_refused(api.post("/me/ssh-keys", {"public_key": text}), 400)
    assert body["detail"] == {"field": "public_key"}
    assert_refused(api.post("/me/ssh-keys", {"public_key": "ssh-ed25519 " + "A" * 20000}), 422)


def test_no_certificate_for_an_account_that_is_not_active_or_not_ones_own(
    api: ApiClient, other_api: ApiClient, personal_site: SiteWithToken, site_api: ApiClient, allocation: Any,
) -> None:
    site_api.get("/agent/site-accounts")  # requested, not yet created at the site
    account = SiteAccount.objects.get()
    key = api.post("/me/ssh-keys", {"public_key": public_line()}).json()
    body = assert_refused(api.post("/me/ssh-certificates", {"key": key["id"], "account": account.pk}), 409)
    assert "requested" in body["message"]
    open_all(site_api)
    theirs = other_api.post("/me/ssh-keys", {"public_key": public_line()}).json()
    assert_refused(other_api.post("/me/ssh-certificates", {"key": theirs["id"], "account": account.pk}), 404)
    assert_refused(other_api.post("/me/ssh-certificates", {"key": key["id"], "account": account.pk}), 404)
    assert other_api.get("/me/site-accounts").json() == []
    assert other_api.get("/me/ssh-keys").json()[0]["id"] == theirs["id"]
    assert_refused(other_api.post(f"/me/ssh-keys/{key['id']}/revoke"), 404)
    assert ApiClient().get("/me/ssh-keys").status_code == 401


def krl_serials(data: bytes, serials: list[int]) -> list[bool]:
    return [struct.pack(">Q", s) in data for s in serials]


def test_revocations_reach_the_krl(api: ApiClient, active: SiteAccount, site_api: ApiClient,
                                   organisation: Any, user: Any) -> None:
    key = api.post("/me/ssh-keys", {"public_key": public_line()}).json()
    first = api.post("/me/ssh-certificates", {"key": key["id"], "account": active.pk}).json()
    second = api.post("/me/ssh-certificates", {"key": key["id"], "account": active.pk}).json()
    anon = ApiClient()
    empty = anon.get("/ssh/revoked.krl").content
    assert empty[:8] == b"SSHKRL\n\0" and krl_serials(empty, [first["serial"], second["serial"]]) == [False, False]

    revoked_cert = api.post(f"/me/ssh-certificates/{first['id']}/revoke").json()
    assert revoked_cert["revoked_at"] is not None
    assert {k: v for k, v in revoked_cert.items() if k != "revoked_at"} == {k: v for k, v in first.items()
                                                                            if k != "revoked_at"}
    one = anon.get("/ssh/revoked.krl").content
    assert krl_serials(one, [first["serial"], second["serial"]]) == [True, False]
    assert struct.unpack(">Q", one[12:20])[0] == 1  # the version counts revocations

    revoked = api.post(f"/me/ssh-keys/{key['id']}/revoke").json()
    assert revoked["revoked_at"] is not None
    assert {k: v for k, v in revoked.items() if k != "revoked_at"} == {k: v for k, v in key.items()
                                                                       if k != "revoked_at"}
    both = anon.get("/ssh/revoked.krl").content
    assert krl_serials(both, [first["serial"], second["serial"]]) == [True, True]
    assert struct.unpack(">Q", both[12:20])[0] > 1
    body = assert_refused(api.post("/me/ssh-keys", {"public_key": revoked["public_key"]}), 409)
    assert "revoked" in body["message"]
    assert_refused(api.post("/me/ssh-certificates", {"key": key["id"], "account": active.pk}), 409)

    fresh = api.post("/me/ssh-keys", {"public_key": public_line()}).json()
    third = api.post("/me/ssh-certificates", {"key": fresh["id"], "account": active.pk}).json()
    organisation.members.remove(user)  # leaving the project revokes the account's certificates
    site_api.get("/agent/site-accounts")
    assert krl_serials(anon.get("/ssh/revoked.krl").content, [third["serial"]]) == [True]


# --- jobs under personal accounts -----------------------------------------------------------------------------------


def test_jobs_wait_for_the_persons_account_and_run_under_it(
    api: ApiClient, personal_site: SiteWithToken, site_api: ApiClient, allocation: Any, user: Any,
) -> None:
    refused = assert_refused(api.post("/jobs", {"allocation": allocation.pk, "name": "t", "script": "id",
                                                "gpus": 1, "time_limit_s": 600}), 400)
    assert "own account at this site is not open yet" in str(refused)
    open_all(site_api)
    answer = api.post("/jobs", {"allocation": allocation.pk, "name": "t", "script": "id", "gpus": 1,
                                "time_limit_s": 600})
    assert answer.status_code == 201, answer.content
    listed = site_api.get("/agent/jobs").json()
    assert [j["user"] for j in listed] == [site_username(user)]
    uid = listed[0]["uid"]
    site_api.post(f"/agent/jobs/{uid}", {"state": "running", "scheduler_id": "7"})
    assert site_api.post(f"/agent/jobs/{uid}", {"state": "completed", "scheduler_id": "7", "exit_code": 0,
                                         "gpu_seconds": 900.0}).status_code == 204
    usage = api.get(f"/allocations/{allocation.pk}/usage-by-person").json()
    assert usage == [{"person": user.username, "site_users": [site_username(user)], "gpu_hours": 0.25, "jobs": 1}]


def test_jobs_at_other_sites_carry_no_user(site_api: ApiClient, allocation: Any) -> None:
    JobFactory(allocation=allocation)
    assert [j["user"] for j in site_api.get("/agent/jobs").json()] == [""]


def test_a_certificate_is_refused_after_the_account_closes(api: ApiClient, active: SiteAccount, site_api: ApiClient,
                                                           organisation: Any, user: Any) -> None:
    key = api.post("/me/ssh-keys", {"public_key": public_line()}).json()
    organisation.members.remove(user)
    site_api.get("/agent/site-accounts")
    body = assert_refused(api.post("/me/ssh-certificates", {"key": key["id"], "account": active.pk}), 409)
    assert "closing" in body["message"]


# --- terms of use and team roles ------------------------------------------------------------------------------------


def test_no_account_and_no_job_before_the_sites_current_terms(personal_site: SiteWithToken, site_api: ApiClient,
                                                              allocation: Any, user: Any, api: ApiClient) -> None:
    staff = UserFactory(username="staffer", is_staff=True)
    site = personal_site.site
    terms_publish(site=site, text="Use the machine for the project only.", actor=staff)
    assert site_api.get("/agent/site-accounts").json() == []
    job = {"allocation": allocation.pk, "name": "t", "script": "id", "gpus": 1, "time_limit_s": 600}
    refused = str(assert_refused(api.post("/jobs", job), 400))
    assert f"accept the terms of use of {site.name} version 1" in refused
    terms_accept(site=site, user=user, version=1)
    assert "own account at this site is not open yet" in str(assert_refused(api.post("/jobs", job), 400))
    assert [o["action"] for o in site_api.get("/agent/site-accounts").json()] == ["open"]
    open_all(site_api)
    assert api.post("/jobs", job).status_code == 201

    terms_publish(site=site, text="Version two.", actor=staff)  # a new version asks again: closed meanwhile
    refused = str(assert_refused(api.post("/jobs", job), 400))  # refused at once, before the agent closes it
    assert f"accept the terms of use of {site.name} version 2" in refused
    assert [(o["action"], o["lock"]) for o in site_api.get("/agent/site-accounts").json()] == [("close", True)]
    open_all(site_api)
    assert f"accept the terms of use of {site.name} version 2" in str(assert_refused(api.post("/jobs", job), 400))
    terms_accept(site=site, user=user, version=2)
    assert [o["action"] for o in site_api.get("/agent/site-accounts").json()] == ["open"]


def test_a_billing_contact_gets_no_site_account(personal_site: SiteWithToken, site_api: ApiClient, allocation: Any,
                                                organisation: Any) -> None:
    contact = UserFactory(username="carol")
    organisation.members.add(contact, through_defaults={"role": "contact"})
    site_api.get("/agent/site-accounts")
    assert SiteAccount.objects.filter(user=contact).count() == 0
    assert SiteAccount.objects.count() == 1
