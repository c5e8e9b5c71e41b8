"""A new member, in a real browser, from invitation to a job under their own name:

1. logs in through a real OpenID Connect provider (node's oidc-provider);
2. accepts the e-mailed invitation (a real SMTP server) and the Slurm site's terms of use;
3. gets an SSH certificate and opens an SSH session on a real sshd as their own site account;
4. submits a job that sacct, on a real Slurm cluster, shows under their own user name.

Refusals at each step. The portal is what `make run` starts; the Slurm site is registered with personal accounts and
its agent (with the privileged helper, as root) runs in this process against the portal's URL, keeping the sshd's CA
and revocation list files. Prints the time from the invitation sent to the first job running."""

from __future__ import annotations

import json
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.sync_api import expect

from aifactory.agent.client import PortalClient
from aifactory.agent.runner import Agent
from aifactory.agent.slurm import SlurmBackend
from tests.browser.test_identity_journey import Inbox, Watch, running_portal
from tests.oidc.provider import ACCOUNTS
from tests.slurm.conftest import SlurmCluster, default_conf, probe
from tests.slurm.test_slurm_backend import drop_account
from tests.sshd.conftest import Sshd, new_posix_user, sshd, user_key  # noqa: F401 - the sshd fixture, started here too

pytestmark = [pytest.mark.browser, pytest.mark.oidc]

PASSWORD = "a-long-enough-passphrase"
SITE = "jupiter-slurm"
MACHINE = "jupiter"
FACTORY = "jaif"


@dataclass(frozen=True)
class JourneyPortal:
    url: str
    issuer: str
    inbox: Inbox
    data_dir: Path
    cluster: SlurmCluster
    site_root: Path
    prefix: str

    def manage(self, *args: str) -> str:
        env = {**os.environ, "AIFACTORY_DATA_DIR": str(self.data_dir),
               "DJANGO_SETTINGS_MODULE": "aifactory.portal.settings"}
        done = subprocess.run([sys.executable, "-m", "django", *args], env=env, capture_output=True, text=True,
                              timeout=120, check=False)
        assert done.returncode == 0, done.stderr
        return done.stdout


def _cluster() -> SlurmCluster:
    found = probe(os.environ.get("AIFACTORY_SLURM_CONF") or default_conf())
    if isinstance(found, SlurmCluster):
        return found
    if os.environ.get("AIFACTORY_REQUIRE_SLURM") == "1" or os.environ.get("AIFACTORY_REQUIRE_BROWSER") == "1":
        pytest.fail(f"the journey needs the Slurm test cluster: {found}", pytrace=False)
    pytest.skip(f"the Slurm test cluster is not up: {found}")


@pytest.fixture(scope="module")
def journey(tmp_path_factory: pytest.TempPathFactory) -> Iterator[JourneyPortal]:
    if os.geteuid() != 0:
        pytest.skip("site accounts are POSIX users: the journey runs as root")
    cluster = _cluster()
    tmp = tmp_path_factory.mktemp("journey")
    site_root = Path(tempfile.mkdtemp(prefix="aif-journey-", dir="/var/tmp"))
    site_root.chmod(0o711)
    (site_root / "jobs").mkdir(mode=0o711)
    (site_root / "home").mkdir(mode=0o755)
    (site_root / "helper.json").write_text(json.dumps({
        "workdir": str(site_root / "jobs"), "group": "aifusers", "agent_group": "root",
        "home_root": str(site_root / "home"), "shell": "/bin/sh", "slurm_confs": [cluster.conf]}), encoding="utf-8")
    prefix = f"aifj{secrets.token_hex(3)}"  # scheduler accounts of this run only: budgets are never reset
    try:
        with running_portal(tmp, {"AIFACTORY_ACCOUNT_PREFIX": prefix}) as running:
            yield JourneyPortal(url=running.url, issuer=running.issuer, inbox=running.inbox, data_dir=running.data_dir,
                                cluster=cluster, site_root=site_root, prefix=prefix)
    finally:
        for line in Path("/etc/passwd").read_text().splitlines():
            fields = line.split(":")
            if fields[5].startswith(str(site_root / "home") + "/"):
                subprocess.run(["userdel", fields[0]], check=False, capture_output=True)
        shutil.rmtree(site_root, ignore_errors=True)


class AgentThread:
    """The Slurm site's agent, a pass every half second in a thread, until stopped; keeps its errors."""

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self.errors: list[str] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.errors += self.agent.cycle().errors
            except Exception as exc:  # noqa: BLE001 - kept and asserted on by the test
                self.errors.append(repr(exc))
            self._stop.wait(0.5)

    def __enter__(self) -> AgentThread:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(timeout=60)


def test_from_invitation_to_a_job_under_ones_own_name(journey: JourneyPortal, sshd: Sshd, browser: Any,  # noqa: F811
                                                      request: pytest.FixtureRequest, tmp_path: Path) -> None:
    portal = journey
    shots = Path(os.environ.get("AIFACTORY_SCREENSHOTS", "artifacts/screenshots")) / request.node.name
    api = httpx.Client(base_url=portal.url + "/api/v1", timeout=30)
    token = api.post("/auth/signup", json={"username": "pia", "email": "pia@example.org",
                                           "password": PASSWORD}).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    org = api.post("/organisations", headers=auth, json={"name": "Fjord AI", "country": "NO", "headcount": 9,
                                                         "turnover_eur": 800000, "balance_sheet_eur": 500000,
                                                         "sector": "energy"}).json()
    api.post(f"/organisations/{org['id']}/pledges", headers=auth,
             json={"pledges": ["governance", "high_risk_map", "ai_literacy"]})
    # The site: a real Slurm cluster whose jobs run under each person's account; its operator publishes terms.
    portal.manage("add_site", SITE, MACHINE, "--backend", "slurm", "--personal-accounts", "--token-file",
                  str(tmp_path / "site.token"))
    portal.manage("grant_role", "pia", "factory_operator", "--factory", FACTORY)
    published = api.post(f"/sites/{SITE}/terms", headers=auth,
                         json={"text": "Jobs on JUPITER run under your own account. Keep your keys to yourself."})
    assert published.status_code == 201, published.text
    app = api.post("/applications", headers=auth, json={
        "organisation": org["id"], "title": "Fjord wind forecasting model", "machine": MACHINE, "params": 1e8,
        "tokens": 2e9, "gpus": 2, "requested_gpu_hours": 20, "months": 1, "civil_use": True}).json()
    assert app["state"] == "approved", app
    account = api.get(f"/allocations/{app['allocation']}", headers=auth).json()["account"]

    helper = [sys.executable, "-m", "aifactory.agent.site_helper", "--config", str(portal.site_root / "helper.json")]
    backend = SlurmBackend(cluster=portal.cluster.name, slurm_conf=portal.cluster.conf,
                           workdir=portal.site_root / "jobs", helper=helper)
    site_client = PortalClient(portal.url, (tmp_path / "site.token").read_text())
    agent = Agent(site_client, backend, personal_accounts=True, ssh_dir=sshd.folder, start_wait_s=120)
    contexts = []
    try:
        with AgentThread(agent) as site_agent:
            # The PI invites Ana.
            pi_context = browser.new_context(viewport={"width": 1280, "height": 900})
            contexts.append(pi_context)
            pi = Watch(pi_context.new_page(), ("http://127.0.0.1",), shots)
            page = pi.page
            page.set_default_timeout(30_000)
            page.goto(portal.url + "/login/")
            page.get_by_label("Username").fill("pia")
            page.get_by_label("Password").fill(PASSWORD)
            page.get_by_role("button", name="Log in", exact=True).click()
            page.wait_for_url(re.compile(r"/dashboard/$"))
            page.goto(f"{portal.url}/organisations/{org['id']}/team/")
            page.get_by_label("Email").fill("ana@example.org")
            page.get_by_role("button", name="Send invitation").click()
            expect(page.get_by_text("Invitation e-mailed to ana@example.org")).to_be_visible()
            invited_at = time.monotonic()
            link = re.search(r"http://\S+/invitations/\S+/",
                             portal.inbox.wait_for("ana@example.org").get_payload(decode=True).decode())
            assert link

            # 1-2. Ana logs in through the provider and accepts the invitation.
            ana_context = browser.new_context(viewport={"width": 1280, "height": 900})
            contexts.append(ana_context)
            ana = Watch(ana_context.new_page(), ("http://127.0.0.1",), shots)
            page = ana.page
            page.set_default_timeout(30_000)
            page.goto(link.group(0))
            page.get_by_role("link", name="Log in with MyAccessID").click()
            page.locator("input[name=login]").fill(ACCOUNTS["ana"]["sub"])
            page.locator("input[name=password]").fill("unused")
            page.locator("button[type=submit]").first.click()
            expect(page).to_have_url(re.compile(r"/invitations/"))
            page.get_by_role("button", name="Accept and join Fjord AI").click()
            expect(page.get_by_text("You joined Fjord AI.")).to_be_visible()

            # Refused before the site's terms: no site account, and no job placed there.
            page.goto(portal.url + "/ssh/")
            expect(page.get_by_text("No site account yet.")).to_be_visible()
            page.goto(portal.url + "/jobs/new/")
            page.get_by_role("button", name=re.compile("Submit")).click()
            expect(page.locator(".form-errors, ul.errorlist").first).to_contain_text(
                f"accept the terms of use of {SITE} version 1")
            ana.shot("10-job-refused-before-terms")

            page.goto(f"{portal.url}/sites/{SITE}/terms/")
            page.get_by_role("button", name="I accept version 1 of these terms").click()

            # 3. Her site account opens; she adds her key, gets a certificate, and logs in over SSH.
            page.goto(portal.url + "/ssh/")
            deadline = time.monotonic() + 90
            while page.locator("span.state-active").count() == 0:
                assert time.monotonic() < deadline, (site_agent.errors, page.content()[:2000])
                time.sleep(1)
                page.reload()
            username = page.locator("td code").first.inner_text()
            ana.shot("11-site-account-active")
            key_file, public = user_key(tmp_path, "ana")
            page.get_by_label("Public key").fill("ssh-ed25519 not-a-key")
            page.get_by_role("button", name="Add key").click()
            expect(page.locator("ul.errorlist").first).to_contain_text("not an OpenSSH public key")
            page.get_by_label("Public key").fill(public)
            page.get_by_role("button", name="Add key").click()
            expect(page.get_by_text("added.")).to_be_visible()
            hours = page.get_by_label("Valid for (hours)")
            hours.fill("100")  # over the maximum: the browser holds the form back (the portal refuses it too)
            page.get_by_role("button", name="Get a certificate").click()
            assert hours.evaluate("e => e.validationMessage")
            expect(page.get_by_label("Your certificate")).to_have_count(0)
            page.get_by_label("Valid for (hours)").fill("2")
            page.get_by_role("button", name="Get a certificate").click()
            certificate = page.get_by_label("Your certificate").input_value()
            ana.shot("12-certificate")
            deadline = time.monotonic() + 30
            while not (sshd.ca_file.exists() and sshd.ca_file.read_text().strip()):
                assert time.monotonic() < deadline, site_agent.errors
                time.sleep(0.5)
            session = sshd.login(username, key_file, certificate, command="id -un; echo $HOME")
            assert session.returncode == 0, session.stderr + sshd.log()[-2000:]
            assert session.stdout.split()[0] == username
            someone = new_posix_user()
            sshd.users.append(someone)
            assert sshd.login(someone, key_file, certificate).returncode == 255  # refused: not her principal

            # 4. She submits a job; it runs under her name.
            page.goto(portal.url + "/jobs/new/")
            page.get_by_label("Script").fill("id -un\nsleep 3\n")
            page.get_by_label("Time limit (seconds)").fill("120")
            page.get_by_role("button", name=re.compile("Submit")).click()
            page.wait_for_url(re.compile(r"/jobs/[0-9a-f]{32}/$"))
            uid = page.url.rstrip("/").rsplit("/", 1)[1]
            deadline = time.monotonic() + 120
            running_at = None
            while True:
                state = api.get(f"/jobs/{uid}", headers=auth).json().get("state")
                if running_at is None and state in ("running", "completed"):
                    running_at = time.monotonic()
                if state in ("completed", "failed", "cancelled"):
                    break
                assert time.monotonic() < deadline, (state, site_agent.errors)
                time.sleep(0.5)
            assert state == "completed", api.get(f"/jobs/{uid}", headers=auth).json()
            page.reload()
            ana.shot("13-job-done")
            out = portal.cluster.run("sacct", "-X", "-n", "-P", "-a", "--name", f"aif-{uid}", "-S", "2020-01-01",
                                     "--format=User,Account,State")
            assert out.split() == [f"{username}|{account}|COMPLETED"], out
            assert site_agent.errors == [], site_agent.errors
            print(f"invitation sent to first job running: {running_at - invited_at:.1f} s "
                  f"(to job completed: {time.monotonic() - invited_at:.1f} s)")
        assert pi.problems == [] and ana.problems == [], (pi.problems, ana.problems)
    finally:
        for context in contexts:
            context.close()
        drop_account(portal.cluster, account)
        site_client.close()
        api.close()
