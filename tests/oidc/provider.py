"""A real OpenID Connect provider in its own process: panva's oidc-provider (npm) run by Node from tests/oidc.

`start_provider` launches `node tests/oidc/provider.mjs` on a free loopback port with the given clients and
accounts and waits until it answers; `sign_in` walks its login page as a browser would (no JavaScript needed) and
returns the URL the provider sends the person back to. Needs `node` and `npm ci --prefix tests/oidc`; without them
the tests are skipped, or fail when AIFACTORY_REQUIRE_OIDC=1 (the CI tier sets it).
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import socket
import subprocess
import time
import urllib.parse
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest

HERE = Path(__file__).resolve().parent
SCOPES = "openid email profile eduperson_assurance eduperson_entitlement"

ACCOUNTS: dict[str, dict[str, Any]] = {
    "ana": {"sub": "a1b2c3d4-myaccessid-ana", "name": "Ana Alves", "given_name": "Ana", "family_name": "Alves",
            "email": "ana@example.org", "email_verified": True,
            "eduperson_assurance": ["https://refeds.org/assurance", "https://refeds.org/assurance/IAP/medium"],
            "eduperson_entitlement": ["urn:mace:egi.eu:group:aifactory:role=member#aai.egi.eu"]},
    "bo": {"sub": "b0-myaccessid-bo", "name": "Bo Berg", "email": "bo@example.org",
           "eduperson_assurance": "https://refeds.org/assurance/IAP/low"},
    "nomail": {"sub": "n0-myaccessid-nomail", "name": "No Mail"},
}


def unavailable(message: str) -> None:
    if os.environ.get("AIFACTORY_REQUIRE_OIDC") == "1":
        pytest.fail(f"AIFACTORY_REQUIRE_OIDC=1 and {message}", pytrace=False)
    pytest.skip(message)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass(frozen=True)
class Client:
    client_id: str
    client_secret: str
    redirect_uri: str


@dataclass(frozen=True)
class Provider:
    issuer: str
    clients: dict[str, Client]
    log: Path

    def metadata(self) -> dict[str, Any]:
        return dict(httpx.get(f"{self.issuer}/.well-known/openid-configuration", timeout=10).json())


@contextmanager
def start_provider(clients: Sequence[Mapping[str, Any]], tmp: Path,
                   accounts: Mapping[str, Any] | None = None) -> Iterator[Provider]:
    node = shutil.which("node")
    if node is None:
        unavailable("node is not installed")
    if not (HERE / "node_modules" / "oidc-provider").is_dir():
        unavailable("oidc-provider is not installed (npm ci --prefix tests/oidc)")
    port = free_port()
    log = tmp / f"oidc-provider-{port}.log"
    env = {**os.environ, "OIDC_PORT": str(port), "OIDC_CLIENTS": json.dumps(list(clients)),
           "OIDC_ACCOUNTS": json.dumps(accounts if accounts is not None else ACCOUNTS)}
    with log.open("wb") as out:
        proc = subprocess.Popen([str(node), str(HERE / "provider.mjs")], env=env, stdout=out, stderr=subprocess.STDOUT)
    issuer = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            if proc.poll() is not None:
                pytest.fail(f"the OIDC provider exited: {log.read_text()[-2000:]}")
            try:
                if httpx.get(f"{issuer}/.well-known/openid-configuration", timeout=2).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                pytest.fail(f"the OIDC provider did not answer within 60 s: {log.read_text()[-2000:]}")
            time.sleep(0.2)
        yield Provider(issuer=issuer, log=log, clients={
            c["client_id"]: Client(c["client_id"], c["client_secret"], c["redirect_uris"][0]) for c in clients})
    finally:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def client_spec(client_id: str, redirect_uri: str, **extra: Any) -> dict[str, Any]:
    return {"client_id": client_id, "client_secret": secrets.token_urlsafe(32), "redirect_uris": [redirect_uri],
            **extra}


def sign_in(authorization_url: str, account: str, redirect_uri: str) -> str:
    """Walk the provider's login page for the account (its subject is the login name); returns the redirect back
    (with code and state)."""
    login = ACCOUNTS[account]["sub"] if account in ACCOUNTS else account
    with httpx.Client(timeout=10) as http:
        url = authorization_url
        for _ in range(10):
            response = http.get(url)
            if response.status_code in (302, 303):
                location = urllib.parse.urljoin(url, response.headers["location"])
                if location.startswith(redirect_uri):
                    return location
                url = location
                continue
            if response.status_code == 200 and 'name="login"' in response.text:
                posted = http.post(url, data={"prompt": "login", "login": login, "password": "unused"})
                assert posted.status_code in (302, 303), posted.text[:500]
                url = urllib.parse.urljoin(url, posted.headers["location"])
                continue
            raise AssertionError(f"unexpected answer from the provider at {url}: {response.status_code} "
                                 f"{response.text[:500]}")
    raise AssertionError("the provider did not send the person back")


def tokens_for(provider: Provider, client_id: str, account: str, nonce: str) -> dict[str, Any]:
    """The tokens the provider issues to a client for the account (the code flow, done directly)."""
    client = provider.clients[client_id]
    meta = provider.metadata()
    query = urllib.parse.urlencode({"client_id": client.client_id, "response_type": "code", "scope": SCOPES,
                                    "redirect_uri": client.redirect_uri, "state": secrets.token_urlsafe(8),
                                    "nonce": nonce})
    back = sign_in(f"{meta['authorization_endpoint']}?{query}", account, client.redirect_uri)
    code = urllib.parse.parse_qs(urllib.parse.urlsplit(back).query)["code"][0]
    answer = httpx.post(meta["token_endpoint"], auth=(client.client_id, client.client_secret), timeout=10,
                        data={"grant_type": "authorization_code", "code": code, "redirect_uri": client.redirect_uri})
    assert answer.status_code == 200, answer.text
    return dict(answer.json())
