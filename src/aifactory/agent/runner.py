"""The agent's loop: heartbeat, provisioning orders, then each open job reconciled with the scheduler.

Idempotent by construction: before submitting a job the agent asks the scheduler (`Backend.find`) whether it
knows the job's uid, so an agent restarted after a crash picks up what is running instead of running it twice.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from aifactory.agent.base import Backend, BackendError, BatchJob, JobReport
from aifactory.agent.client import PortalClient, PortalError, RemoteJob
from aifactory.core.jobs import JobState

log = logging.getLogger("aifactory.agent")


@dataclass
class CycleResult:
    provisioned: list[str] = field(default_factory=list)
    submitted: list[str] = field(default_factory=list)
    reported: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)


class Agent:
    def __init__(self, portal: PortalClient, backend: Backend) -> None:
        self.portal = portal
        self.backend = backend

    def cycle(self) -> CycleResult:
        """One pass over everything the portal asks of this site."""
        result = CycleResult()
        self.portal.heartbeat(queue_wait_s=self.backend.queue_wait_s(), backend=self.backend.name)
        for order in self.portal.orders():
            try:
                self.backend.ensure_account(order.account, order.gpu_minutes)
            except BackendError as exc:
                result.errors.append(f"order {order.id}: {exc}")
                self.portal.order_done(order.id, ok=False, message=str(exc))
                continue
            self.portal.order_done(order.id, ok=True, message=f"account {order.account} ready")
            result.provisioned.append(order.account)
        for job in self.portal.jobs():
            try:
                self._handle(job, result)
            except (BackendError, PortalError, ValueError) as exc:
                log.warning("job %s: %s", job.uid, exc)
                result.errors.append(f"job {job.uid}: {exc}")
        return result

    def _handle(self, job: RemoteJob, result: CycleResult) -> None:
        seen = self.backend.find(job.uid)
        if seen is None:
            if job.cancel_requested:
                # Cancelled by its owner, and the scheduler has no record of it: nothing runs; close it.
                self._report(JobReport(uid=job.uid, scheduler_id=job.scheduler_id, state=JobState.CANCELLED,
                                       message="cancelled; the scheduler has no record of this job"), result)
                return
            if job.state != JobState.PENDING:
                # The portal believes the scheduler has it but the scheduler has no record: report it lost.
                self._report(JobReport(uid=job.uid, scheduler_id=job.scheduler_id, state=JobState.FAILED,
                                       message="the scheduler has no record of this job"), result)
                return
            scheduler_id = self.backend.submit(
                BatchJob(uid=job.uid, name=job.name, account=job.account, gpus=job.gpus,
                         time_limit_s=job.time_limit_s, script=job.script, env=job.env)
            )
            result.submitted.append(job.uid)
            seen = self.backend.find(job.uid) or JobReport(uid=job.uid, scheduler_id=scheduler_id,
                                                           state=JobState.SUBMITTED)
        elif job.cancel_requested and not seen.state.terminal:
            self.backend.cancel(job.uid)
            seen = self.backend.find(job.uid) or seen
        if seen.state.value != job.state or seen.state.terminal or seen.state == JobState.RUNNING:
            self._report(seen, result)

    def _report(self, report: JobReport, result: CycleResult) -> None:
        self.portal.report(report, log_tail=self.backend.logs(report.uid) if report.scheduler_id else "")
        result.reported.append(report.uid)

    def run_forever(self, *, interval_s: float = 2.0, stop: Callable[[], bool] = lambda: False) -> None:
        while not stop():
            try:
                self.cycle()
            except PortalError as exc:
                log.warning("%s", exc)
            except Exception:  # an agent outlives one bad pass; the next pass reconciles again
                log.exception("agent pass failed")
            time.sleep(interval_s)
