"""The certificate-expiry e-mail: one message per certificate through the outbox, sent by the periodic task within
SSH_CERT_EXPIRY_NOTICE_H of the certificate's end, never twice; none for revoked, short or already renewed ones."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from aifactory.portal.mail.models import OutgoingMail
from aifactory.portal.periodic.services import periodic_enqueue_due
from aifactory.portal.siteaccess.models import SiteAccount, SshCertificate
from aifactory.portal.siteaccess.services import (
    ssh_certificate_issue,
    ssh_certificate_revoke,
    ssh_certificates_expiry_notify,
    ssh_key_add,
)
from tests.conftest import ApiClient, SiteWithToken, run_worker
from tests.portal.mail.test_mail import Inbox, start
from tests.portal.mail.test_mail import smtp as smtp  # noqa: F401 - the fixture
from tests.portal.siteaccess.test_siteaccess import open_all, public_line

pytestmark = pytest.mark.django_db


@pytest.fixture
def account(site: SiteWithToken, site_api: ApiClient, allocation: Any) -> SiteAccount:
    site.site.personal_accounts = True
    site.site.save()
    open_all(site_api)
    return SiteAccount.objects.get(username__startswith="alice")


def issue(user: Any, account: SiteAccount, hours: float = 8, key: Any = None) -> SshCertificate:
    key = key or ssh_key_add(user=user, public_key=public_line())
    return ssh_certificate_issue(user=user, key_id=key.pk, account_id=account.pk, hours=hours)


def expiry_mails() -> list[OutgoingMail]:
    return list(OutgoingMail.objects.filter(kind="cert_expiry"))


def test_one_mail_per_certificate_within_the_window(user: Any, account: SiteAccount, settings: Any) -> None:
    settings.SSH_CERT_EXPIRY_NOTICE_H = 1
    cert = issue(user, account, hours=8)
    assert ssh_certificates_expiry_notify(now=cert.valid_before - timedelta(hours=2)) == []
    assert ssh_certificates_expiry_notify(now=cert.valid_before - timedelta(minutes=59)) == [cert]
    assert ssh_certificates_expiry_notify(now=cert.valid_before - timedelta(minutes=30)) == []  # never twice
    (mail,) = expiry_mails()
    assert mail.to == [user.email] and mail.key == f"cert-expiry-{cert.serial}"
    assert f"for {account.username} at {account.site.name} expires at" in mail.subject
    assert f"serial {cert.serial}" in mail.body and "/ssh/" in mail.body
    assert ssh_certificates_expiry_notify(now=cert.valid_before + timedelta(minutes=1)) == []  # expired: nothing


def test_none_for_revoked_short_or_renewed_certificates(user: Any, account: SiteAccount, settings: Any) -> None:
    settings.SSH_CERT_EXPIRY_NOTICE_H = 1
    revoked = issue(user, account, hours=8)
    ssh_certificate_revoke(user=user, certificate_id=revoked.pk)
    short = issue(user, account, hours=2)  # its whole life is twice the window: no notice right after signing
    renewed = issue(user, account, hours=8)
    issue(user, account, hours=9, key=renewed.key)  # a newer one for the same key and account lasts longer
    assert ssh_certificates_expiry_notify(now=short.valid_before - timedelta(minutes=30)) == []
    assert ssh_certificates_expiry_notify(now=renewed.valid_before - timedelta(minutes=30)) == []
    assert expiry_mails() == []


def test_the_window_is_a_setting(user: Any, account: SiteAccount, settings: Any) -> None:
    cert = issue(user, account, hours=24)
    settings.SSH_CERT_EXPIRY_NOTICE_H = 3
    assert ssh_certificates_expiry_notify(now=cert.valid_before - timedelta(hours=2, minutes=59)) == [cert]


def test_the_periodic_task_mails_it(user: Any, account: SiteAccount, mailoutbox: list[Any], monkeypatch: Any) -> None:
    cert = issue(user, account, hours=8)
    now = timezone.now()
    SshCertificate.objects.filter(pk=cert.pk).update(valid_after=now - timedelta(hours=7, minutes=30),
                                                     valid_before=now + timedelta(minutes=30))
    periodic_enqueue_due()
    run_worker()
    periodic_enqueue_due(now=now + timedelta(minutes=10))  # the next slot: nothing new to send
    run_worker()
    assert [m.to for m in mailoutbox] == [[user.email]]
    assert "expires at" in mailoutbox[0].subject


def test_delivered_through_a_real_smtp_server(user: Any, account: SiteAccount, smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    cert = issue(user, account, hours=8)
    ssh_certificates_expiry_notify(now=cert.valid_before - timedelta(minutes=45))
    controller = start(inbox, port)
    try:
        run_worker()
    finally:
        controller.stop()
    (msg,) = inbox.messages
    assert msg["To"] == user.email and f"for {account.username} at" in msg["Subject"]
    assert f"serial {cert.serial}" in msg.get_payload()
    assert OutgoingMail.objects.get(kind="cert_expiry").state == "sent"
