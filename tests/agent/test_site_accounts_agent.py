"""The agent opens and closes people's site accounts as the portal asks, and hands their jobs the user name."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aifactory.agent.base import BackendError, BatchJob
from aifactory.agent.client import PortalClient
from aifactory.agent.local import LocalBackend
from aifactory.agent.runner import Agent
from aifactory.portal.siteaccess.models import SiteAccount
from aifactory.portal.siteaccess.services import site_username
from tests.conftest import DjangoTransport, SiteWithToken, UserFactory

pytestmark = pytest.mark.django_db


class PeopleBackend(LocalBackend):
    """The local backend, keeping the site accounts it is asked for (and failing for one name)."""

    def __init__(self, workdir: Path) -> None:
        super().__init__(workdir)
        self.members: dict[tuple[str, str], str] = {}
        self.locked: set[str] = set()
        self.users: list[str] = []
        self.fail_for = ""

    def ensure_member(self, account: str, user: str) -> None:
        if user == self.fail_for:
            raise BackendError("useradd: cannot lock /etc/passwd")
        self.members[(account, user)] = "open"
        self.locked.discard(user)

    def close_member(self, account: str, user: str, *, lock: bool) -> None:
        self.members[(account, user)] = "closed"
        if lock:
            self.locked.add(user)

    def submit(self, job: BatchJob) -> str:
        self.users.append(job.user)
        return super().submit(job)


@pytest.fixture
def personal(site: SiteWithToken) -> SiteWithToken:
    site.site.personal_accounts = True
    site.site.save()
    return site


def test_the_agent_opens_and_closes_accounts(personal: SiteWithToken, transport: DjangoTransport, tmp_path: Path,
                                             allocation: Any, organisation: Any, user: Any) -> None:
    bob = UserFactory(username="bob")
    organisation.members.add(bob)
    backend = PeopleBackend(tmp_path)
    backend.fail_for = site_username(bob)
    agent = Agent(PortalClient("http://testserver", personal.token, transport=transport), backend,
                  personal_accounts=True)
    first = agent.cycle()
    assert backend.members == {(allocation.account, site_username(user)): "open"}
    assert len(first.errors) == 1 and "cannot lock /etc/passwd" in first.errors[0]
    assert SiteAccount.objects.get(user=bob).message == "useradd: cannot lock /etc/passwd"
    backend.fail_for = ""
    agent.cycle()
    assert set(SiteAccount.objects.values_list("state", flat=True)) == {"active"}

    organisation.members.remove(bob)
    agent.cycle()
    assert backend.members[(allocation.account, site_username(bob))] == "closed"
    assert backend.locked == {site_username(bob)}
    assert SiteAccount.objects.get(user=bob).state == "closed"


def test_an_agent_without_personal_accounts_does_not_ask(personal: SiteWithToken, transport: DjangoTransport,
                                                         tmp_path: Path, allocation: Any) -> None:
    backend = PeopleBackend(tmp_path)
    Agent(PortalClient("http://testserver", personal.token, transport=transport), backend).cycle()
    assert backend.members == {}
    assert not any("site-accounts" in path for _, path in transport.requests)


def test_the_agent_keeps_the_sshd_files_current(site: SiteWithToken, transport: DjangoTransport,
                                                tmp_path: Path) -> None:
    ssh_dir = tmp_path / "ssh"
    ssh_dir.mkdir()
    agent = Agent(PortalClient("http://testserver", site.token, transport=transport), PeopleBackend(tmp_path / "w"),
                  ssh_dir=ssh_dir)
    first = agent.cycle()
    assert sorted(first.ssh_files) == ["aifactory_revoked.krl", "aifactory_user_ca.pub"]
    assert (ssh_dir / "aifactory_user_ca.pub").read_text().startswith("ssh-ed25519 ")
    assert (ssh_dir / "aifactory_revoked.krl").read_bytes()[:8] == b"SSHKRL\n\0"
    assert agent.cycle().ssh_files == []  # unchanged: not rewritten
