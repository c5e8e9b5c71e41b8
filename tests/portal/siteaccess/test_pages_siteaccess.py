"""The site access page: accounts with state, keys pasted or uploaded, certificates, revocations, refusals."""

from __future__ import annotations

from typing import Any

import pytest
from cryptography.hazmat.primitives.serialization import load_ssh_public_identity
from django.core.files.uploadedfile import SimpleUploadedFile

from aifactory.portal.siteaccess.models import SiteAccount, SshCertificate, SshKey
from aifactory.portal.siteaccess.services import site_account_done, site_accounts_sync
from tests.conftest import SiteWithToken, login, text
from tests.portal.siteaccess.test_siteaccess import public_line


@pytest.fixture
def account(site: SiteWithToken, allocation: Any, user: Any) -> SiteAccount:
    site.site.personal_accounts = True
    site.site.save()
    site_accounts_sync(site=site.site)
    found = SiteAccount.objects.get(user=user)
    site_account_done(site=site.site, account_id=found.pk, ok=True, message="created by the agent")
    found.refresh_from_db()
    return found


def test_the_page_lists_accounts_and_takes_a_pasted_key_then_signs(account: SiteAccount, user: Any) -> None:
    client = login(user)
    page = text(client.get("/ssh/"))
    assert account.username in page and "active" in page and "created by the agent" in page
    assert "Add a key first." in page
    answer = client.post("/ssh/keys/", {"public_key": public_line(), "name": "laptop"})
    assert answer.status_code == 302
    key = SshKey.objects.get(user=user)
    page = text(client.get("/ssh/"))
    assert key.fingerprint in page and "Get a certificate" in page
    issued = client.post("/ssh/certificates/", {"key": key.pk, "account": account.pk, "hours": "2"})
    assert issued.status_code == 200
    cert = SshCertificate.objects.get()
    assert cert.text in issued.content.decode()
    assert load_ssh_public_identity(cert.text.encode()).valid_principals == [account.username.encode()]
    assert client.post(f"/ssh/certificates/{cert.pk}/revoke/").status_code == 302
    cert.refresh_from_db()
    assert cert.revoked_at is not None
    assert client.post(f"/ssh/keys/{key.pk}/revoke/").status_code == 302
    key.refresh_from_db()
    assert key.revoked_at is not None
    assert "revoked" in text(client.get("/ssh/"))


def test_a_key_file_can_be_uploaded(account: SiteAccount, user: Any) -> None:
    upload = SimpleUploadedFile("id_ed25519.pub", (public_line() + "\n").encode(), content_type="text/plain")
    assert login(user).post("/ssh/keys/", {"key_file": upload}).status_code == 302
    assert SshKey.objects.filter(user=user).count() == 1


@pytest.mark.parametrize(("data", "words"), [
    ({"public_key": "ssh-rsa AAAA-not-a-key"}, "is not an OpenSSH public key"),
    ({"public_key": ""}, "paste a public key or upload its .pub file"),
    ({"key_file": SimpleUploadedFile("k.pub", b"\xff\xfe binary")}, "plain ASCII text"),
])
def test_bad_keys_are_refused_next_to_the_field(account: SiteAccount, user: Any, data: dict[str, Any],
                                                words: str) -> None:
    answer = login(user).post("/ssh/keys/", data)
    assert answer.status_code == 200
    assert words in text(answer)
    assert not SshKey.objects.exists()


def test_a_lifetime_over_the_maximum_is_refused_next_to_the_field(account: SiteAccount, user: Any) -> None:
    client = login(user)
    client.post("/ssh/keys/", {"public_key": public_line()})
    key = SshKey.objects.get()
    answer = client.post("/ssh/certificates/", {"key": key.pk, "account": account.pk, "hours": "100"})
    assert "at most 24" in text(answer)
    assert not SshCertificate.objects.exists()


def test_another_persons_rows_are_not_theirs(account: SiteAccount, user: Any, other_user: Any) -> None:
    login(user).post("/ssh/keys/", {"public_key": public_line()})
    key = SshKey.objects.get()
    intruder = login(other_user)
    assert account.username not in text(intruder.get("/ssh/"))
    assert intruder.post(f"/ssh/keys/{key.pk}/revoke/").status_code == 404
    answer = intruder.post("/ssh/certificates/", {"key": key.pk, "account": account.pk})
    assert "Select a valid choice" in text(answer)
    assert not SshCertificate.objects.exists()
