"""The portal's certificates on a real sshd: the site's agent keeps sshd's CA and KRL files from the portal; a member's
certificate from the API logs in as their site account; revoking it (or the key) in the portal locks them out at the
next pass of the agent; a certificate for another member's principal is refused."""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Any

import pytest

from aifactory.agent.client import PortalClient
from aifactory.agent.local import LocalBackend
from aifactory.agent.runner import Agent
from aifactory.portal.siteaccess.models import SiteAccount
from aifactory.portal.siteaccess.services import site_account_done, site_accounts_sync, site_username
from tests.conftest import AllocationFactory, ApiClient, OrganisationFactory, UserFactory
from tests.sshd.conftest import Sshd, new_posix_user, user_key

pytestmark = [pytest.mark.sshd, pytest.mark.django_db]


def test_a_member_logs_in_with_the_portals_certificate_until_it_is_revoked(
    sshd: Sshd, site: Any, transport: Any, api_for: Any, tmp_path: Path
) -> None:
    tag = secrets.token_hex(3)
    ada, bob = UserFactory(username=f"ada{tag}"), UserFactory(username=f"bob{tag}")
    org = OrganisationFactory(name=f"Lab {tag}", members=[ada, bob])
    AllocationFactory(application__organisation=org, application__submitted_by=ada)
    site.site.personal_accounts = True
    site.site.save()
    site_accounts_sync(site=site.site)
    for account in SiteAccount.objects.all():  # what the site's agent does with the helper (the Slurm tier)
        new_posix_user_named(sshd, account.username)
        site_account_done(site=site.site, account_id=account.pk, ok=True, message="created")
    agent = Agent(PortalClient("http://testserver", site.token, transport=transport), LocalBackend(tmp_path / "w"),
                  ssh_dir=sshd.folder)
    assert not agent.cycle().errors

    api = api_for(ada)
    key_file, public = user_key(tmp_path, "ada")
    key = api.post("/me/ssh-keys", {"public_key": public}).json()
    mine = SiteAccount.objects.get(user=ada)
    cert = api.post("/me/ssh-certificates", {"key": key["id"], "account": mine.pk, "hours": 1}).json()
    done = sshd.login(mine.username, key_file, cert["certificate"])
    assert done.returncode == 0, done.stderr + sshd.log()[-2000:]
    assert done.stdout.strip() == site_username(ada)

    bobs = SiteAccount.objects.get(user=bob)
    assert sshd.login(bobs.username, key_file, cert["certificate"]).returncode == 255  # not her principal
    assert_refused_for_others(api_for(bob), key["id"], mine.pk)

    api.post(f"/me/ssh-certificates/{cert['id']}/revoke")
    assert sshd.login(mine.username, key_file, cert["certificate"]).returncode == 0  # the site has not heard yet
    assert agent.cycle().ssh_files == ["aifactory_revoked.krl"]
    assert sshd.login(mine.username, key_file, cert["certificate"]).returncode == 255
    assert "revoked" in sshd.log().lower()

    fresh = api.post("/me/ssh-certificates", {"key": key["id"], "account": mine.pk}).json()
    assert sshd.login(mine.username, key_file, fresh["certificate"]).returncode == 0
    api.post(f"/me/ssh-keys/{key['id']}/revoke")
    agent.cycle()
    assert sshd.login(mine.username, key_file, fresh["certificate"]).returncode == 255


def new_posix_user_named(sshd: Sshd, name: str) -> None:
    made = new_posix_user(name)
    sshd.users.append(made)


def assert_refused_for_others(other: ApiClient, key_id: int, account_id: int) -> None:
    answer = other.post("/me/ssh-certificates", {"key": key_id, "account": account_id})
    assert answer.status_code == 404
