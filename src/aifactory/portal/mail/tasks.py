"""Background work of the mail app, run by the task runner's worker: one delivery attempt per task."""

from __future__ import annotations

from datetime import timedelta

from django.conf import settings
from django.core.mail import EmailMessage
from django.db import transaction
from django.utils import timezone
from django_tasks import task

from aifactory.portal.mail.choices import MailState
from aifactory.portal.mail.models import OutgoingMail


def retry_pause(attempts: int) -> timedelta:
    """The pause before the next attempt: MAIL_RETRY_BASE_S doubled per failed attempt, at most an hour."""
    return timedelta(seconds=min(3600.0, settings.MAIL_RETRY_BASE_S * 2 ** max(0, attempts - 1)))


@task()
def deliver_mail(mail_id: int) -> str:
    """Try to deliver one queued message through Django's mail framework. A failure enqueues the next attempt after a
    pause, up to MAIL_MAX_ATTEMPTS; then the message is marked failed with its last error. Returns its state."""
    with transaction.atomic():
        mail = OutgoingMail.objects.select_for_update().filter(pk=mail_id).first()
        if mail is None:
            return "missing"
        if mail.state != MailState.QUEUED:
            return str(mail.state)
        mail.attempts += 1
        try:
            EmailMessage(subject=mail.subject, body=mail.body, from_email=settings.DEFAULT_FROM_EMAIL,
                         to=list(mail.to)).send(fail_silently=False)
        except Exception as exc:  # noqa: BLE001 - any failure of the mail server is retried, then recorded
            mail.last_error = f"{type(exc).__name__}: {exc}"[:2000]
            if mail.attempts >= settings.MAIL_MAX_ATTEMPTS:
                mail.state = MailState.FAILED
            else:
                deliver_mail.using(run_after=timezone.now() + retry_pause(mail.attempts)).enqueue(mail.pk)
        else:
            mail.state = MailState.SENT
            mail.sent_at = timezone.now()
            mail.last_error = ""
        mail.save(update_fields=["attempts", "last_error", "state", "sent_at"])
        return str(mail.state)
