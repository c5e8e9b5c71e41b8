from __future__ import annotations

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import QuerySet

from aifactory.portal.access.models import Application
from aifactory.portal.common.errors import NotFound


def applications_of(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Application]:
    qs = Application.objects.select_related("organisation", "machine")
    if not user.is_authenticated:
        return qs.none()
    if user.is_staff:
        return qs
    return qs.filter(organisation__members=user)


def application_get(*, user: AbstractBaseUser | AnonymousUser, pk: int) -> Application:
    app = applications_of(user).filter(pk=pk).first()
    if app is None:
        raise NotFound(f"application {pk} not found")
    return app
