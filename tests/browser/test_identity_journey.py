"""A new member, in a real browser: logs in through a real OpenID Connect provider, accepts the team invitation
that a real SMTP server received, and accepts the site's terms of use. Refusals at each step.

The portal is what `make run` starts (gunicorn, a local agent, the task worker), pointed at the provider
(node's oidc-provider, tests/oidc) and at an SMTP server (aiosmtpd) on loopback ports."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from email import message_from_bytes
from email.message import Message
from pathlib import Path
from typing import Any

import httpx
import pytest
from aiosmtpd.controller import Controller
from playwright.sync_api import expect

from tests.oidc.provider import ACCOUNTS, client_spec, free_port, start_provider

pytestmark = [pytest.mark.browser, pytest.mark.oidc]

PASSWORD = "a-long-enough-passphrase"


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"

    def wait_for(self, to: str, timeout_s: float = 60) -> Message:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for msg in self.messages:
                if msg["To"] == to:
                    return msg
            time.sleep(0.2)
        raise AssertionError(f"no mail to {to} within {timeout_s} s; got {[m['To'] for m in self.messages]}")


@dataclass(frozen=True)
class IdentityPortal:
    url: str
    issuer: str
    inbox: Inbox
    data_dir: Path


@dataclass(frozen=True)
class RunningPortal:
    url: str
    issuer: str
    inbox: Inbox
    data_dir: Path
    log_path: Path


@contextmanager
def running_portal(tmp: Path, extra_env: dict[str, str] | None = None) -> Iterator[RunningPortal]:
    """`aifactory run` in its own process, logging in through a real OpenID provider and mailing through a real SMTP
    server; everything is stopped on leaving."""
    port = free_port()
    url = f"http://127.0.0.1:{port}"
    portal_client = client_spec("portal", f"{url}/oidc/callback/")
    smtp_port = free_port()
    inbox = Inbox()
    smtp = Controller(inbox, hostname="127.0.0.1", port=smtp_port)
    smtp.start()
    try:
        with start_provider([portal_client], tmp) as provider:
            env = {**os.environ, "AIFACTORY_AGENT_INTERVAL_S": "0.3", "AIFACTORY_OIDC_ISSUER": provider.issuer,
                   "AIFACTORY_OIDC_CLIENT_ID": "portal", "AIFACTORY_OIDC_CLIENT_SECRET": portal_client["client_secret"],
                   "AIFACTORY_EMAIL_HOST": "127.0.0.1", "AIFACTORY_EMAIL_PORT": str(smtp_port),
                   "AIFACTORY_MAIL_RETRY_BASE_S": "1", **(extra_env or {})}
            log_path = tmp / "run.log"
            with log_path.open("wb") as log:
                proc = subprocess.Popen([sys.executable, "-m", "aifactory.cli.main", "run", "--port", str(port),
                                         "--data-dir", str(tmp / "data")], stdout=log, stderr=subprocess.STDOUT,
                                        env=env)
            try:
                deadline = time.monotonic() + 90
                while b"aifactory is running" not in log_path.read_bytes():
                    if proc.poll() is not None or time.monotonic() > deadline:
                        pytest.fail("aifactory run did not start:\n" + log_path.read_text(errors="replace"))
                    time.sleep(0.3)
                yield RunningPortal(url=url, issuer=provider.issuer, inbox=inbox, data_dir=tmp / "data",
                                    log_path=log_path)
            finally:
                proc.send_signal(signal.SIGINT)
                try:
                    proc.wait(timeout=20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
    finally:
        smtp.stop()


@pytest.fixture(scope="module")
def identity_portal(tmp_path_factory: pytest.TempPathFactory) -> Iterator[IdentityPortal]:
    with running_portal(tmp_path_factory.mktemp("identity")) as running:
        assert b"e-mail: sent through 127.0.0.1" in running.log_path.read_bytes()
        yield IdentityPortal(url=running.url, issuer=running.issuer, inbox=running.inbox, data_dir=running.data_dir)


def _manage(portal: IdentityPortal, *args: str) -> str:
    env = {**os.environ, "AIFACTORY_DATA_DIR": str(portal.data_dir),
           "DJANGO_SETTINGS_MODULE": "aifactory.portal.settings"}
    done = subprocess.run([sys.executable, "-m", "django", *args], env=env, capture_output=True, text=True,
                          timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    return done.stdout


class Watch:
    """Console errors, page errors and failed requests of the portal and the provider (the provider's own page
    asks for a web font elsewhere, which this machine cannot reach: that one is not the portal's problem)."""

    def __init__(self, page: Any, origins: tuple[str, ...], shots: Path) -> None:
        self.page, self.problems, self.shots = page, [], shots
        page.on("pageerror", lambda e: self.problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: self.problems.append(f"request failed: {r.url}")
                if r.url.startswith(origins) else None)
        page.on("response", lambda r: self.problems.append(f"HTTP {r.status}: {r.url}") if r.status >= 500 else None)

    def shot(self, name: str) -> None:
        self.shots.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(self.shots / f"{name}.png"), full_page=True)


def test_oidc_login_invitation_and_terms(identity_portal: IdentityPortal, browser: Any,
                                         request: pytest.FixtureRequest) -> None:
    portal = identity_portal
    shots = Path(os.environ.get("AIFACTORY_SCREENSHOTS", "artifacts/screenshots")) / request.node.name
    api = httpx.Client(base_url=portal.url + "/api/v1", timeout=30)
    # The PI (a local account) with an organisation; the site's operator publishes its terms.
    token = api.post("/auth/signup", json={"username": "pia", "email": "pia@example.org",
                                           "password": PASSWORD}).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    org = api.post("/organisations", headers=auth, json={"name": "Fjord AI", "country": "NO", "headcount": 9,
                                                         "turnover_eur": 800000, "balance_sheet_eur": 500000,
                                                         "sector": "energy"}).json()
    _manage(portal, "grant_role", "pia", "factory_operator", "--factory", "it4lia")
    site = "leonardo-local"
    published = api.post(f"/sites/{site}/terms", headers=auth,
                         json={"text": "Use Leonardo for the project's work only. Keep your keys to yourself."})
    assert published.status_code == 201, published.text

    contexts: list[Any] = []
    try:
        pi_context = browser.new_context(viewport={"width": 1280, "height": 900})
        contexts.append(pi_context)
        pi = Watch(pi_context.new_page(), ("http://127.0.0.1",), shots)
        page = pi.page
        page.set_default_timeout(20_000)
        page.goto(portal.url + "/login/")
        expect(page.get_by_role("link", name="Log in with MyAccessID")).to_be_visible()
        page.get_by_label("Username").fill("pia")
        page.get_by_label("Password").fill(PASSWORD)
        page.get_by_role("button", name="Log in", exact=True).click()
        page.wait_for_url(re.compile(r"/dashboard/$"))
        page.goto(f"{portal.url}/organisations/{org['id']}/team/")
        page.get_by_label("Email").fill("ana@")
        page.get_by_role("button", name="Send invitation").click()
        expect(page.locator("ul.errorlist").first).to_contain_text("valid email")  # refused, named at the field
        page.get_by_label("Email").fill("ana@example.org")
        page.get_by_role("button", name="Send invitation").click()
        expect(page.get_by_text("Invitation e-mailed to ana@example.org")).to_be_visible()
        invited_at = time.monotonic()
        pi.shot("01-pi-invited")

        mail = portal.inbox.wait_for("ana@example.org")
        body = mail.get_payload(decode=True).decode()
        link = re.search(r"http://\S+/invitations/\S+/", body)
        assert link, body

        # Someone whose provider does not release an e-mail address is refused at login.
        stranger_context = browser.new_context()
        contexts.append(stranger_context)
        stranger = Watch(stranger_context.new_page(), ("http://127.0.0.1",), shots)
        stranger.page.goto(portal.url + "/login/")
        stranger.page.get_by_role("link", name="Log in with MyAccessID").click()
        stranger.page.locator("input[name=login]").fill(ACCOUNTS["nomail"]["sub"])
        stranger.page.locator("input[name=password]").fill("unused")
        stranger.page.locator("button[type=submit]").first.click()
        expect(stranger.page.locator("p.refusal")).to_contain_text("sent no e-mail address")
        stranger.shot("02-login-refused-no-email")

        # Ana opens the link, logs in through the provider, accepts the invitation and the site's terms.
        ana_context = browser.new_context(viewport={"width": 1280, "height": 900})
        contexts.append(ana_context)
        ana = Watch(ana_context.new_page(), ("http://127.0.0.1",), shots)
        page = ana.page
        page.set_default_timeout(20_000)
        page.goto(link.group(0))
        expect(page).to_have_url(re.compile(r"/login/\?next="))
        page.get_by_role("link", name="Log in with MyAccessID").click()
        expect(page).to_have_url(re.compile(re.escape(portal.issuer)))
        ana.shot("03-provider-login")
        page.locator("input[name=login]").fill(ACCOUNTS["ana"]["sub"])
        page.locator("input[name=password]").fill("unused")
        page.locator("button[type=submit]").first.click()
        expect(page).to_have_url(re.compile(r"/invitations/"))
        expect(page.get_by_text("invites ana@example.org to the team of Fjord AI")).to_be_visible()
        ana.shot("04-invitation")
        page.get_by_role("button", name="Accept and join Fjord AI").click()
        expect(page.get_by_text("You joined Fjord AI.")).to_be_visible()
        expect(page.get_by_test_id("member-ana")).to_contain_text("Member")
        ana.shot("05-team")
        page.goto(link.group(0))  # the link works once
        expect(page.get_by_text("This invitation has been used already.")).to_be_visible()

        page.goto(f"{portal.url}/sites/{site}/terms/")
        expect(page.get_by_test_id("terms-text")).to_contain_text("Keep your keys to yourself.")
        page.get_by_role("button", name="I accept version 1 of these terms").click()
        page.goto(f"{portal.url}/sites/{site}/terms/")
        expect(page.get_by_test_id("terms-accepted")).to_contain_text("You accepted version 1")
        accepted_at = time.monotonic()
        ana.shot("06-terms-accepted")
        print(f"invitation sent to terms accepted: {accepted_at - invited_at:.1f} s")

        # A new version asks again.
        assert api.post(f"/sites/{site}/terms", headers=auth, json={"text": "Version two."}).status_code == 201
        page.goto(f"{portal.url}/terms/")
        expect(page.get_by_text("not accepted")).to_be_visible()

        assert pi.problems == [] and ana.problems == [] and stranger.problems == [], (
            pi.problems, ana.problems, stranger.problems)
    finally:
        api.close()
        for context in contexts:
            context.close()
