"""Sending e-mail: one call, `mail_send`, for every part of the portal.

The message is written to the outbox in the caller's transaction and a delivery task is enqueued on the task runner
(django-tasks, database backend), so that a request never waits for the mail server and a rolled-back request sends
nothing. A worker (`django-admin tasks_worker`; `aifactory run` starts them) delivers it through Django's mail
framework (EMAIL_BACKEND, EMAIL_HOST, ...); a failed attempt is retried with a growing pause, up to
MAIL_MAX_ATTEMPTS, and the last error stays on the row.

    from aifactory.portal.mail.services import mail_send
    mail_send(to=["someone@example.org"], subject="...", body="...", kind=MailKind.SUPPORT)
"""

from __future__ import annotations

from collections.abc import Sequence

from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction

from aifactory.portal.common.errors import BadRequest
from aifactory.portal.mail.choices import MailKind
from aifactory.portal.mail.models import OutgoingMail
from aifactory.portal.mail.tasks import deliver_mail

MAX_RECIPIENTS = 50


@transaction.atomic
def mail_send(*, to: Sequence[str], subject: str, body: str, kind: str = MailKind.OTHER,
              key: str | None = None) -> OutgoingMail:
    """Queue a message for delivery and return at once. With a `key`, a second call with the same key sends nothing
    and returns the first message (e.g. one 80 % notice per allocation)."""
    recipients = [a.strip() for a in to if a and a.strip()]
    if not recipients:
        raise BadRequest("to: no recipient", {"field": "to"})
    if len(recipients) > MAX_RECIPIENTS:
        raise BadRequest(f"to: at most {MAX_RECIPIENTS} recipients", {"field": "to"})
    for address in recipients:
        try:
            validate_email(address)
        except ValidationError as exc:
            raise BadRequest(f"to: {address!r} is not an e-mail address", {"field": "to"}) from exc
    if kind not in MailKind.values:
        raise BadRequest(f"kind: unknown kind {kind!r}", {"field": "kind"})
    subject = " ".join(subject.split())[:200]  # one line: a header cannot carry a newline
    if key is not None:
        existing = OutgoingMail.objects.filter(key=key).first()
        if existing is not None:
            return existing
    try:
        with transaction.atomic():
            mail = OutgoingMail.objects.create(to=recipients, subject=subject, body=body, kind=kind, key=key)
    except IntegrityError:
        return OutgoingMail.objects.get(key=key)
    deliver_mail.enqueue(mail.pk)
    return mail
