"""E-mail: queued by the request, delivered by the task runner's worker to a real SMTP server (aiosmtpd on a
loopback port), retried when the server is down, given up on (and kept) after the last attempt."""

from __future__ import annotations

import socket
import time
from collections.abc import Iterator
from email import message_from_bytes
from email.message import Message
from typing import Any

import pytest
from aiosmtpd.controller import Controller

from aifactory.portal.allocations.services import allocation_add_usage
from aifactory.portal.common.errors import BadRequest
from aifactory.portal.mail.models import OutgoingMail
from aifactory.portal.mail.services import mail_send
from aifactory.portal.organisations.models import Membership
from tests.conftest import UserFactory, run_worker

pytestmark = pytest.mark.django_db


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class Inbox:
    def __init__(self) -> None:
        self.messages: list[Message] = []

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:  # noqa: N802 - aiosmtpd's name
        self.messages.append(message_from_bytes(envelope.content))
        return "250 OK"


@pytest.fixture
def smtp(settings: Any) -> Iterator[tuple[Inbox, int]]:
    """A real SMTP server on a free loopback port, and the portal's mail pointed at it (not started yet)."""
    port = free_port()
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST, settings.EMAIL_PORT, settings.EMAIL_TIMEOUT = "127.0.0.1", port, 5
    settings.MAIL_RETRY_BASE_S = 0
    yield Inbox(), port


def work() -> None:
    run_worker()


def start(inbox: Inbox, port: int) -> Controller:
    controller = Controller(inbox, hostname="127.0.0.1", port=port)
    controller.start()
    return controller


def test_delivered_through_smtp(smtp: tuple[Inbox, int]) -> None:
    inbox, port = smtp
    controller = start(inbox, port)
    try:
        mail = mail_send(to=["ana@example.org"], subject="Hello\r\nBcc: evil@example.org", body="Body text.",
                         kind="support")
        assert mail.state == "queued" and inbox.messages == []  # nothing sent by the caller
        work()
    finally:
        controller.stop()
    mail.refresh_from_db()
    assert (mail.state, mail.attempts) == ("sent", 1)
    (msg,) = inbox.messages
    assert msg["To"] == "ana@example.org" and msg["Subject"] == "Hello Bcc: evil@example.org"
    assert msg["Bcc"] is None and "Body text." in msg.get_payload()


def test_a_failed_send_is_retried_then_delivered(smtp: tuple[Inbox, int], settings: Any) -> None:
    inbox, port = smtp
    settings.MAIL_RETRY_BASE_S = 1
    mail = mail_send(to=["ana@example.org"], subject="Retry me", body="x")
    work()  # no server listening yet: the next attempt is due in a second
    mail.refresh_from_db()
    assert (mail.state, mail.attempts) == ("queued", 1) and "Error" in mail.last_error
    controller = start(inbox, port)
    try:
        time.sleep(1.2)
        work()
    finally:
        controller.stop()
    mail.refresh_from_db()
    assert (mail.state, mail.attempts, mail.last_error) == ("sent", 2, "")
    assert [m["Subject"] for m in inbox.messages] == ["Retry me"]


def test_given_up_after_the_last_attempt_and_kept(smtp: tuple[Inbox, int], settings: Any) -> None:
    settings.MAIL_MAX_ATTEMPTS = 3
    mail = mail_send(to=["ana@example.org"], subject="Lost?", body="x")
    for _ in range(4):
        work()
    mail.refresh_from_db()
    assert (mail.state, mail.attempts) == ("failed", 3) and mail.last_error


def test_refusals() -> None:
    with pytest.raises(BadRequest, match="to: no recipient"):
        mail_send(to=[], subject="s", body="b")
    with pytest.raises(BadRequest, match="not an e-mail address"):
        mail_send(to=["a@example.org", "nope"], subject="s", body="b")
    with pytest.raises(BadRequest, match="kind"):
        mail_send(to=["a@example.org"], subject="s", body="b", kind="spam")


def test_one_message_per_key() -> None:
    first = mail_send(to=["a@example.org"], subject="s", body="b", key="k1")
    assert mail_send(to=["a@example.org"], subject="s", body="b", key="k1") == first
    assert OutgoingMail.objects.count() == 1


def test_allocation_notices_at_80_and_100_are_mailed_once(allocation: Any, user: Any, mailoutbox: list[Any]) -> None:
    contact = UserFactory(username="billing", email="billing@example.org")
    Membership.objects.create(organisation=allocation.organisation, user=contact, role="contact")
    Membership.objects.create(organisation=allocation.organisation, user=UserFactory(username="m"), role="member")
    allocation_add_usage(allocation=allocation, gpu_seconds=allocation.gpu_hours * 3600 * 0.85)
    allocation_add_usage(allocation=allocation, gpu_seconds=1)
    allocation_add_usage(allocation=allocation, gpu_seconds=allocation.gpu_hours * 3600 * 0.2)
    work()
    assert [(m.subject.split(": ")[1], sorted(m.to)) for m in mailoutbox] == [
        ("80 % of the GPU-hours used", ["alice@example.org", "billing@example.org"]),
        ("100 % of the GPU-hours used", ["alice@example.org", "billing@example.org"]),
    ]


def test_decisions_are_mailed_to_the_submitter_and_the_pis(organisation: Any, user: Any, site: Any) -> None:
    from aifactory.portal.access.services import application_decide, application_submit
    from aifactory.portal.organisations.services import role_grant

    plan = {"machine_key": "leonardo", "params": 1e8, "tokens": 2e9, "gpus": 2, "civil_use": True}
    approved = application_submit(organisation=organisation, user=user, title="Small run", requested_gpu_hours=10,
                                  months=1, **plan)
    waiting = application_submit(organisation=organisation, user=user, title="Big run", mode="fast_lane",
                                 requested_gpu_hours=400, months=1, **plan)
    assert (approved.state, waiting.state) == ("approved", "technical_review")
    manager = UserFactory(username="maria")
    role_grant(user=manager, role="call_manager", granted_by=None)
    application_decide(application=waiting, user=manager, approve=False, reason="Too much for the fast lane.")
    mails = {m.subject: m for m in OutgoingMail.objects.filter(kind="decision")}
    assert set(mails) == {"Small run: approved", "Big run: refused"}
    refused = mails["Big run: refused"]
    assert refused.to == ["alice@example.org"] and "Too much for the fast lane." in refused.body
    assert f"/applications/{waiting.pk}/" in refused.body
