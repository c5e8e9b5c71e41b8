"""The periodic tasks: which task runs how often (the registry; services.py enqueues them).

A periodic task is a django-tasks task that takes no arguments, registered with `periodic` in its app's `tasks.py`:

    @periodic(name="jobs.failover", every=lambda: timedelta(seconds=settings.FAILOVER_EVERY_S))
    @task()
    def failover() -> dict[str, object]:
        ...

Time is cut into slots of length `every` counted from 1970-01-01 UTC (a daily task's slot starts at midnight UTC);
the scheduler enqueues a task once in each slot (`periodic_enqueue_due`), in the slot's first tick that finds a
scheduler running. A slot in which no scheduler ran is not made up for later: every periodic task does all the work
that is due when it runs, so the next slot's run catches up.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from django.utils.module_loading import autodiscover_modules

Every = timedelta | Callable[[], timedelta]


@dataclass(frozen=True)
class Periodic:
    name: str
    task: Any
    """The django-tasks Task (it takes no arguments)."""
    every: Every

    def length(self) -> timedelta:
        """The slot's length now (a callable reads the settings each time, so a test or an operator can change it)."""
        every = self.every() if callable(self.every) else self.every
        if every.total_seconds() < 1:
            raise ValueError(f"{self.name}: a period is at least one second, not {every}")
        return every

    def slot(self, now: datetime) -> int:
        """The number of the slot that holds `now`."""
        return math.floor(now.timestamp() / self.length().total_seconds())

    def starts_at(self, slot: int) -> datetime:
        return datetime.fromtimestamp(slot * self.length().total_seconds(), tz=UTC)


_REGISTRY: dict[str, Periodic] = {}
_discovered = False


def periodic(*, name: str, every: Every) -> Callable[[Any], Any]:
    """Register a task to run once every `every` (a timedelta, or a callable that answers one). Put it above
    `@task()`; it returns the task unchanged."""

    def register(task: Any) -> Any:
        known = _REGISTRY.get(name)
        if known is not None and known.task.module_path != task.module_path:
            raise ValueError(f"two periodic tasks are named {name!r}: {known.task.module_path}, {task.module_path}")
        _REGISTRY[name] = Periodic(name=name, task=task, every=every)
        return task

    return register


def periodics() -> Iterator[Periodic]:
    """Every registered periodic task, by name. The first call imports each installed app's `tasks` module, where
    the apps register theirs."""
    global _discovered
    if not _discovered:
        autodiscover_modules("tasks")
        _discovered = True
    for name in sorted(_REGISTRY):
        yield _REGISTRY[name]
