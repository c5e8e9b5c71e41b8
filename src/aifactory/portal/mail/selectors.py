from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from aifactory.portal.common.errors import Forbidden
from aifactory.portal.mail.models import OutgoingMail


def outbox(user: AbstractBaseUser | AnonymousUser) -> QuerySet[OutgoingMail]:
    """The outbox, newest first: staff only (it holds everyone's messages)."""
    if not (user.is_authenticated and user.is_staff):
        raise Forbidden("only staff read the outbox")
    return OutgoingMail.objects.all()
