"""Sign-up, tokens, and who may call what."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model

from aifactory.portal.organisations.models import ApiToken
from tests.conftest import PASSWORD, ApiClient, UserFactory, assert_refused

pytestmark = pytest.mark.django_db

SIGNUP = {"username": "bob", "email": "bob@example.org", "password": "a-long-enough-passphrase"}


def test_signup_gives_a_token_that_works(anon):
    response = anon.post("/auth/signup", SIGNUP)
    assert response.status_code == 201
    token = response.json()["token"]
    assert get_user_model().objects.filter(username="bob").exists()
    assert ApiToken.objects.filter(user__username="bob").count() == 1
    assert token not in {t.digest for t in ApiToken.objects.all()}  # stored as a digest only
    assert ApiClient(token).get("/organisations").status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"username": "bob", "email": "bob@example.org"},
        {"username": "bob", "password": "a-long-enough-passphrase"},
        {**SIGNUP, "username": "b"},
        {**SIGNUP, "username": "bob smith"},
        {**SIGNUP, "username": "bob;drop"},
        {**SIGNUP, "username": "x" * 151},
        {**SIGNUP, "username": 42},
        {**SIGNUP, "email": "not-an-email"},
        {**SIGNUP, "email": "bob\x00@example.org"},
        {**SIGNUP, "password": "short"},
        {**SIGNUP, "password": "1234567890"},  # too common
        {**SIGNUP, "password": None},
        {**SIGNUP, "password": "p" * 201},
        ["bob", "bob@example.org"],
    ],
)
def test_signup_refuses_bad_input(anon, body):
    body_out = assert_refused(anon.post("/auth/signup", body), (400, 422))
    assert not get_user_model().objects.filter(username="bob").exists(), body_out


def test_signup_refuses_a_taken_username_whatever_its_case(anon, user):
    body = assert_refused(anon.post("/auth/signup", {**SIGNUP, "username": "ALICE"}), 409)
    assert "taken" in body["message"]
    assert body["detail"] == {"field": "username"}


@pytest.mark.parametrize("raw", ["{bad json", "", "null", '"text"', "[1, 2]", "\x00"])
def test_signup_refuses_malformed_bodies(anon, raw):
    assert_refused(anon.post("/auth/signup", raw=raw), (400, 422))


def test_token_for_username_and_password(anon, user):
    response = anon.post("/auth/token", {"username": "alice", "password": PASSWORD})
    assert response.status_code == 201
    assert ApiClient(response.json()["token"]).get("/organisations").status_code == 200


@pytest.mark.parametrize(
    "body",
    [
        {"username": "alice", "password": "wrong-password-here"},
        {"username": "nobody", "password": PASSWORD},
    ],
)
def test_token_refuses_wrong_credentials(anon, user, body):
    body_out = assert_refused(anon.post("/auth/token", body), 401)
    assert "wrong" in body_out["message"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"username": "alice"},
        {"username": "alice\x00", "password": PASSWORD},
        {"username": ["alice"], "password": 1},
    ],
)
def test_token_refuses_bad_input(anon, user, body):
    assert_refused(anon.post("/auth/token", body), (400, 422))


def test_inactive_user_token_stops_working(api, user):
    user.is_active = False
    user.save()
    assert_refused(api.get("/organisations"), 401)


PEOPLE_ENDPOINTS = [
    ("get", "/organisations"),
    ("post", "/organisations"),
    ("get", "/organisations/1"),
    ("post", "/organisations/1/pledges"),
    ("get", "/applications"),
    ("post", "/applications"),
    ("get", "/applications/1"),
    ("get", "/allocations"),
    ("get", "/allocations/1"),
    ("get", "/jobs"),
    ("post", "/jobs"),
    ("get", "/jobs/" + "0" * 32),
    ("post", "/jobs/" + "0" * 32 + "/cancel"),
    ("get", "/jobs/" + "0" * 32 + "/logs"),
]
AGENT_ENDPOINTS = [
    ("post", "/agent/heartbeat"),
    ("get", "/agent/orders"),
    ("post", "/agent/orders/1"),
    ("get", "/agent/jobs"),
    ("post", "/agent/jobs/" + "0" * 32),
]


def _call(client, method, path):
    return client.get(path) if method == "get" else client.post(path, {})


@pytest.mark.parametrize(("method", "path"), PEOPLE_ENDPOINTS + AGENT_ENDPOINTS)
def test_no_token_is_401(anon, method, path):
    body = assert_refused(_call(anon, method, path), 401)
    assert "token" in body["message"]


@pytest.mark.parametrize(("method", "path"), PEOPLE_ENDPOINTS + AGENT_ENDPOINTS)
def test_unknown_token_is_401(db, method, path):
    assert_refused(_call(ApiClient("aifu_not-a-real-token"), method, path), 401)


@pytest.mark.parametrize(("method", "path"), AGENT_ENDPOINTS)
def test_a_persons_token_does_not_open_the_agent_protocol(api, method, path):
    assert_refused(_call(api, method, path), 401)


@pytest.mark.parametrize(("method", "path"), PEOPLE_ENDPOINTS)
def test_a_site_token_does_not_open_peoples_endpoints(site_api, method, path):
    assert_refused(_call(site_api, method, path), 401)


def test_staff_token_sees_everyone(api_for, organisation):
    staff = UserFactory(username="operator", is_staff=True)
    names = [o["name"] for o in api_for(staff).get("/organisations").json()]
    assert names == ["Alice Lab"]
