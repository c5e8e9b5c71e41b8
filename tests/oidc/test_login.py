"""Federated login against a real OpenID Connect provider (panva's oidc-provider in its own Node process).

Covered: a good login that creates the person with MyAccessID's claims and finds them again by subject; the same
answer replayed (state used once); a missing e-mail; and ID tokens the provider really issued, checked the way the
callback checks them: for another audience, expired, with a tampered signature."""

from __future__ import annotations

import secrets
import time
import urllib.parse
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from aifactory.portal.common.errors import BadRequest
from aifactory.portal.organisations.models import FederatedIdentity
from aifactory.portal.organisations.oidc import id_token_verify
from tests.conftest import text
from tests.oidc.provider import ACCOUNTS, Provider, client_spec, sign_in, start_provider, tokens_for

pytestmark = [pytest.mark.oidc, pytest.mark.django_db]

CALLBACK = "http://testserver/oidc/callback/"


@pytest.fixture(scope="module")
def provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    clients = [client_spec("portal", CALLBACK), client_spec("another-service", CALLBACK),
               client_spec("short-lived", CALLBACK, id_token_ttl=1)]
    with start_provider(clients, tmp_path_factory.mktemp("oidc")) as running:
        yield running


@pytest.fixture
def as_client(provider: Provider, settings: Any) -> Any:
    """Point the portal at the provider as one of its clients."""

    def use(client_id: str = "portal") -> None:
        client = provider.clients[client_id]
        settings.OIDC_ISSUER, settings.OIDC_CLIENT_ID = provider.issuer, client.client_id
        settings.OIDC_CLIENT_SECRET, settings.OIDC_LEEWAY_S = client.client_secret, 0

    use()
    return use


def begin(browser: Client, next_url: str = "") -> str:
    started = browser.get("/oidc/login/" + (f"?next={urllib.parse.quote(next_url)}" if next_url else ""))
    assert started.status_code == 302, started.content[:300]
    return str(started["Location"])


def back_path(url: str) -> str:
    parts = urllib.parse.urlsplit(url)
    return f"{parts.path}?{parts.query}"


def test_good_login_creates_the_person_then_finds_them_by_subject(provider: Provider, as_client: Any) -> None:
    browser = Client()
    authorize = begin(browser, "/terms/")
    query = urllib.parse.parse_qs(urllib.parse.urlsplit(authorize).query)
    assert authorize.startswith(provider.issuer) and query["client_id"] == ["portal"]
    assert query["state"][0] and query["nonce"][0] and "eduperson_entitlement" in query["scope"][0]
    done = browser.get(back_path(sign_in(authorize, "ana", CALLBACK)))
    assert (done.status_code, done["Location"]) == (302, "/terms/")
    identity = FederatedIdentity.objects.select_related("user").get()
    ana = ACCOUNTS["ana"]
    assert (identity.issuer, identity.subject) == (provider.issuer, ana["sub"])
    assert identity.assurance == sorted(ana["eduperson_assurance"])
    assert identity.entitlements == ana["eduperson_entitlement"]
    user = identity.user
    assert (user.username, user.email, user.get_full_name()) == ("ana", "ana@example.org", "Ana Alves")
    assert not user.has_usable_password()
    assert browser.get("/dashboard/").status_code == 200

    again = Client()
    assert again.get(back_path(sign_in(begin(again), "ana", CALLBACK))).status_code == 302
    assert get_user_model().objects.filter(email="ana@example.org").count() == 1
    assert FederatedIdentity.objects.count() == 1
    assert int(again.session["_auth_user_id"]) == user.pk


def test_a_single_assurance_value_and_no_entitlements(provider: Provider, as_client: Any) -> None:
    browser = Client()
    assert browser.get(back_path(sign_in(begin(browser), "bo", CALLBACK))).status_code == 302
    identity = FederatedIdentity.objects.get(subject=ACCOUNTS["bo"]["sub"])
    assert (identity.assurance, identity.entitlements) == (["https://refeds.org/assurance/IAP/low"], [])


def test_replay_of_a_used_state_is_refused(provider: Provider, as_client: Any) -> None:
    browser = Client()
    back = back_path(sign_in(begin(browser), "ana", CALLBACK))
    assert browser.get(back).status_code == 302
    browser.logout()
    replayed = browser.get(back)
    assert replayed.status_code == 400 and "used already or has expired" in text(replayed)
    assert "_auth_user_id" not in browser.session
    stranger = Client()  # the answer carried to another browser: no state there either
    assert stranger.get(back).status_code == 400
    forged = Client()
    begin(forged)
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(back).query)["code"][0]
    assert forged.get(f"/oidc/callback/?code={code}&state=forged").status_code == 400


def test_missing_email_is_refused(provider: Provider, as_client: Any) -> None:
    browser = Client()
    refused = browser.get(back_path(sign_in(begin(browser), "nomail", CALLBACK)))
    assert refused.status_code == 400 and "sent no e-mail address" in text(refused)
    assert not FederatedIdentity.objects.exists() and "_auth_user_id" not in browser.session


def test_a_token_for_another_audience_is_refused(provider: Provider, as_client: Any) -> None:
    nonce = secrets.token_urlsafe(8)
    token = tokens_for(provider, "another-service", "ana", nonce)["id_token"]
    as_client("another-service")
    assert id_token_verify(token, nonce=nonce)["sub"] == ACCOUNTS["ana"]["sub"]  # good for its own audience
    as_client("portal")
    with pytest.raises(BadRequest, match="another audience"):
        id_token_verify(token, nonce=nonce)


def test_an_expired_token_is_refused(provider: Provider, as_client: Any) -> None:
    as_client("short-lived")
    nonce = secrets.token_urlsafe(8)
    token = tokens_for(provider, "short-lived", "ana", nonce)["id_token"]
    time.sleep(2.5)
    with pytest.raises(BadRequest, match="expired"):
        id_token_verify(token, nonce=nonce)


def test_a_tampered_signature_is_refused(provider: Provider, as_client: Any) -> None:
    nonce = secrets.token_urlsafe(8)
    token = tokens_for(provider, "portal", "ana", nonce)["id_token"]
    assert id_token_verify(token, nonce=nonce)["email"] == "ana@example.org"
    header, payload, signature = token.split(".")
    flipped = signature[:10] + ("A" if signature[10] != "A" else "B") + signature[11:]
    with pytest.raises(BadRequest, match="signature"):
        id_token_verify(f"{header}.{payload}.{flipped}", nonce=nonce)
    with pytest.raises(BadRequest, match="nonce"):
        id_token_verify(token, nonce="another-nonce")


def test_the_login_page_offers_both(provider: Provider, as_client: Any, settings: Any) -> None:
    page = Client().get("/login/")
    assert "Log in with MyAccessID" in text(page) and 'name="password"' in text(page)
    settings.OIDC_ISSUER = ""
    assert "Log in with" not in text(Client().get("/login/"))
    assert Client().get("/oidc/login/").status_code == 404


def test_unreachable_provider_is_a_clear_refusal(settings: Any, tmp_path: Path) -> None:
    from tests.oidc.provider import free_port

    settings.OIDC_ISSUER, settings.OIDC_CLIENT_ID = f"http://127.0.0.1:{free_port()}", "portal"
    refused = Client().get("/oidc/login/")
    assert refused.status_code == 502 and "identity provider" in text(refused)
