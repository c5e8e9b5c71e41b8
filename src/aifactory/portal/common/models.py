"""Model bases shared by the apps."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models


class StateChangeBase(models.Model):
    """An audit log entry of a state machine: who moved it, when, from, to and why."""

    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL)
    from_state = models.CharField(max_length=20)
    to_state = models.CharField(max_length=20)
    reason = models.TextField(blank=True)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        abstract = True
        ordering = ["at", "pk"]


def remember_related(instance: models.Model, **rows: list[Any]) -> None:
    """Hand an object the rows of its reverse relations that were just created with it (`placements=[...]`), so
    that `instance.placements.all()` reads them without a query (any other use of the relation still queries).
    This fills Django's prefetch cache by hand, as prefetch_related_objects does after its query, with rows the
    caller knows to be the relation's complete contents."""
    cache: dict[str, Any] = instance.__dict__.setdefault("_prefetched_objects_cache", {})
    for name, found in rows.items():
        queryset = getattr(instance, name).get_queryset()
        queryset._result_cache = list(found)
        queryset._prefetch_done = True
        cache[name] = queryset
