"""Mail to people: one function, through Django's mail framework (EMAIL_BACKEND and EMAIL_* settings)."""

from __future__ import annotations

from django.conf import settings
from django.core.mail import send_mail


def mail_send(*, to: str, subject: str, body: str) -> bool:
    """Send one plain-text message; False when there is no address to send to."""
    if not to.strip():
        return False
    subject = " ".join(subject.split())[:200]
    return send_mail(subject, body, settings.DEFAULT_FROM_EMAIL, [to], fail_silently=False) == 1
