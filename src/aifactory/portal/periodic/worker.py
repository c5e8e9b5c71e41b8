"""The scheduler that runs inside each worker of the task runner (`django-admin tasks_worker`)."""

from __future__ import annotations

import logging
import threading
import time

from django.conf import settings
from django.db import DatabaseError, close_old_connections, connection

from aifactory.portal.periodic.services import periodic_enqueue_due, worker_beat

log = logging.getLogger("aifactory.periodic")


def scheduler_run(*, tick: float, stopping: threading.Event, worker_id: str = "", schedule: bool = True) -> None:
    """Every `tick` seconds until `stopping` is set, say that the worker `worker_id` is alive (if given) and, with
    `schedule`, enqueue the periodic tasks that are due. The worker says it is alive at the first tick and then every
    eighth of AIFACTORY_TASK_ABANDONED_AFTER_S (15 s by default), not at every tick, to spare the database's writes. A
    tick that fails (the database restarting, SQLite busy) is logged and tried again at the next one."""
    beat_every = settings.TASK_ABANDONED_AFTER_S / 8
    last_beat = -float("inf")
    try:
        while not stopping.is_set():
            close_old_connections()
            try:
                if worker_id and time.monotonic() - last_beat >= beat_every:
                    worker_beat(worker_id)
                    last_beat = time.monotonic()
                for row in periodic_enqueue_due() if schedule else ():
                    log.info("enqueued %s for the slot starting %s", row.name, row.starts_at.isoformat())
            except DatabaseError:
                log.warning("periodic tasks: the database did not answer; trying again", exc_info=True)
            except Exception:
                log.exception("periodic tasks: enqueueing failed")
            stopping.wait(tick)
    finally:
        connection.close()


def scheduler_start(*, tick: float, worker_id: str = "", schedule: bool = True) -> tuple[threading.Thread,
                                                                                             threading.Event]:
    """Start `scheduler_run` in a daemon thread (it ends with the worker's process); set the event to stop it."""
    stopping = threading.Event()
    thread = threading.Thread(target=scheduler_run, kwargs={"tick": tick, "stopping": stopping,
                                                            "worker_id": worker_id, "schedule": schedule},
                              name="periodic-scheduler", daemon=True)
    thread.start()
    return thread, stopping
