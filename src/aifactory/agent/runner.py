"""The agent's loop: heartbeat, provisioning orders, revocations, then each open job reconciled with the scheduler.

Idempotent by construction: before submitting a job the agent asks the scheduler (`Backend.find_live`, once)
whether it holds a copy of the job's uid, so an agent restarted after a crash picks up what is queued or running
instead of running it twice (`_handle` says why a copy that has ended need not be looked for).

Woken, not only polling (`run_forever(wake=True)`): a second connection long-polls the portal (`GET /agent/wait`),
which answers as soon as the site has work (PostgreSQL LISTEN/NOTIFY behind it), and the agent starts a pass at once.
A woken pass goes straight to the work (the heartbeat and the SSH files are left to the regular passes, which still
come every `interval_s`), takes the new jobs first, and asks the scheduler once per new job (`find`, then
`Backend.submit_unseen`). A third thread watches the jobs the agent submitted for the file each writes when the
scheduler starts it at its gate, and reports and releases it at once (`release_started`), whether or not a pass is
under way. The agent still only pulls.

Jobs are submitted behind the start gate (aifactory.agent.base): when the scheduler starts a job, the agent first
reports it running; only when the portal accepts that report (the job is still this site's) does it release the
job's commands. A job the portal answers 410 Gone for (it moved to another site, or was cancelled, while this
agent was away) is cancelled instead, and so is every copy the portal lists among the site's revocations; the
agent confirms each with what the scheduler says of the copy, so its usage is charged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

from aifactory.agent.base import Backend, BackendError, BatchJob, JobReport
from aifactory.agent.client import AccountOrder, PortalClient, RemoteJob
from aifactory.core.jobs import JobState
from aifactory.sdk import PortalCallError

log = logging.getLogger("aifactory.agent")


GONE = 410
SSH_CA_FILE = "aifactory_user_ca.pub"
SSH_KRL_FILE = "aifactory_revoked.krl"
DEFAULT_START_WAIT_S = 300
GATE_WATCH_S = 0.02
"""How often the agent looks for jobs the scheduler started at their gate while it has any (a stat of a local file
per job, no call to the scheduler)."""
HEARTBEAT_EVERY_S = 15.0
"""A pass that lasts longer (many jobs, a slow scheduler) reports the site alive again this often, so that the portal,
which takes a site silent for AGENT_STALE_AFTER_S (120 s by default) for lost, never takes a busy agent for a dead
one."""
WAKE_GAP_S = 0.2
"""Passes woken by the portal follow each other at most this often (work that stays, such as an order that keeps
failing, would otherwise loop)."""


@dataclass
class CycleResult:
    provisioned: list[str] = field(default_factory=list)
    submitted: list[str] = field(default_factory=list)
    released: list[str] = field(default_factory=list)
    reported: list[str] = field(default_factory=list)
    revoked: list[str] = field(default_factory=list)
    errors: list[str] = field(default_factory=list)
    accounts: list[str] = field(default_factory=list)
    ssh_files: list[str] = field(default_factory=list)


class Agent:
    def __init__(self, portal: PortalClient, backend: Backend, *, start_wait_s: int = DEFAULT_START_WAIT_S,
                 personal_accounts: bool = False, ssh_dir: Path | None = None,
                 heartbeat_every_s: float = HEARTBEAT_EVERY_S, clock: Callable[[], float] = time.monotonic) -> None:
        self.portal = portal
        self.heartbeat_every_s = heartbeat_every_s
        self._clock = clock
        self._queue_wait_s = 0.0
        self.ssh_dir = ssh_dir
        self.backend = backend
        self.start_wait_s = start_wait_s
        self._gated: dict[str, str] = {}
        """Jobs this agent handed to the scheduler whose gate it has not opened yet: uid -> scheduler id."""
        self._lock = threading.RLock()
        """Held while one job is handled (a pass, or the gate watcher), and for `_gated`."""
        self._gates = threading.Event()
        """Set when a job joins `_gated`: wakes the gate watcher."""
        self._beat_at: float | None = None
        """When (the clock, time.monotonic) the portal last took this agent's heartbeat."""
        self.personal_accounts = personal_accounts
        self._contact = 0.0
        """When this agent last reached the portal (before its heartbeat): leases are renewed up to this + lease_s."""
        self._markers: dict[str, set[object]] = {}
        """Checkpoint steps reported per job, so that each marker is sent once (again after a restart: harmless)."""

    def cycle(self, *, woken: bool = False) -> CycleResult:
        """One pass over everything the portal asks of this site, new jobs first. A pass `woken` by the portal leaves
        out the heartbeat and the SSH files (the regular passes keep them current)."""
        result = CycleResult()
        if not woken:
            self._queue_wait_s = self.backend.queue_wait_s()
            self._heartbeat()
        for order in self.portal.orders():
            try:
                self.backend.ensure_account(order.account, order.gpu_minutes)
            except BackendError as exc:
                result.errors.append(f"order {order.id}: {exc}")
                self.portal.order_done(order.id, ok=False, message=str(exc))
                continue
            self.portal.order_done(order.id, ok=True, message=f"account {order.account} ready")
            result.provisioned.append(order.account)
        if self.ssh_dir is not None and not woken:
            try:
                self._ssh_files(self.ssh_dir, result)
            except (OSError, PortalCallError) as exc:
                result.errors.append(f"ssh files: {exc}")
        if self.personal_accounts:
            for account in self.portal.site_accounts():
                try:
                    self._site_account(account, result)
                except PortalCallError as exc:
                    result.errors.append(f"site account {account.username}/{account.account}: {exc}")
        for revocation in self.portal.revocations():
            self._keep_alive()
            try:
                self._revoke(revocation.uid, result)
            except (BackendError, PortalCallError) as exc:
                log.warning("revocation of job %s: %s", revocation.uid, exc)
                result.errors.append(f"revocation {revocation.uid}: {exc}")
        # New jobs first (a stable sort): they reach the scheduler before the pass reconciles the ones it has.
        for job in sorted(self.portal.jobs(), key=lambda j: j.state != JobState.PENDING.value):
            self._keep_alive()
            try:
                with self._lock:
                    self._handle(job, result)
            except (BackendError, PortalCallError, ValueError) as exc:
                log.warning("job %s: %s", job.uid, exc)
                result.errors.append(f"job {job.uid}: {exc}")
        return result

    def _heartbeat(self) -> None:
        beat = self._clock()
        contact = time.time()  # leases run from before the report, so never past what the portal saw + lease_s
        self.portal.heartbeat(queue_wait_s=self._queue_wait_s, backend=self.backend.name)
        self._beat_at = beat
        self._contact = contact

    def _keep_alive(self) -> None:
        """Within a long pass: report the site alive again once heartbeat_every_s has passed since the last report
        (with the queue wait last measured)."""
        if self._beat_at is None or self._clock() - self._beat_at >= self.heartbeat_every_s:
            self._heartbeat()

    def _handle(self, job: RemoteJob, result: CycleResult) -> None:
        if job.state == JobState.PENDING.value and not job.cancel_requested:
            # A job the portal holds pending has never been released anywhere: a gate opens only once the portal
            # accepted the job running at that site, and a running job never goes back to pending, nor to a site it
            # left. So a copy of it that has ended never ran its commands, and only a live one (queued, or waiting
            # at its gate) must not be doubled: the scheduler's controller is asked, not its accounting.
            seen = self.backend.find_live(job.uid)
        else:
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
            scheduler_id = self.backend.submit_unseen(  # the find above was the one question to the scheduler
                BatchJob(uid=job.uid, name=job.name, account=job.account, gpus=job.gpus, nodes=job.nodes,
                         time_limit_s=job.time_limit_s, script=job.script, env=job.env, image=job.image,
                         inputs=job.inputs, outputs=job.outputs, gated=True, start_wait_s=self.start_wait_s,
                         user=job.user, lease_s=job.lease_s)
            )
            result.submitted.append(job.uid)
            self._gated[job.uid] = scheduler_id
            self._gates.set()
            seen = JobReport(uid=job.uid, scheduler_id=scheduler_id, state=JobState.SUBMITTED)  # one find is enough
        elif job.cancel_requested and not seen.state.terminal:
            self.backend.cancel(job.uid)
            seen = self.backend.find(job.uid) or seen
        if seen.state.terminal or job.cancel_requested:
            self._gated.pop(job.uid, None)
        elif seen.state in (JobState.PENDING, JobState.SUBMITTED) and not self.backend.released(job.uid):
            self._gated.setdefault(job.uid, seen.scheduler_id)  # also after a restart
            self._gates.set()
        if job.lease_s and not seen.state.terminal:
            self.backend.renew_lease(job.uid, self._contact + job.lease_s)
        if job.cancel_requested and not seen.state.terminal:
            return  # being cancelled: reported once the scheduler has ended it
        try:
            if job.lease_s and seen.state in (JobState.RUNNING, *[s for s in JobState if s.terminal]):
                self._report_checkpoints(job.uid, result)  # before the end is reported: the run reads its progress
            if seen.state == JobState.RUNNING and not job.cancel_requested and not self.backend.released(job.uid):
                # The start gate: the portal must hold the job for this site before its commands may run.
                self._report(seen, result)
                self.backend.release(job.uid)
                self._gated.pop(job.uid, None)
                result.released.append(job.uid)
            elif seen.state.value != job.state or seen.state.terminal or seen.state == JobState.RUNNING:
                self._report(seen, result)
        except PortalCallError as exc:
            if exc.status != GONE:
                raise
            self.backend.cancel(job.uid)  # no longer this site's: its copy never runs here
            self._gated.pop(job.uid, None)
            result.revoked.append(job.uid)

    def _report_checkpoints(self, uid: str, result: CycleResult) -> None:
        sent = self._markers.setdefault(uid, set())
        fresh = [m for m in self.backend.checkpoints(uid) if m.get("step") not in sent]
        if not fresh:
            return
        self.portal.checkpoints(uid, fresh)
        sent.update(m.get("step") for m in fresh)

    def _ssh_files(self, folder: Path, result: CycleResult) -> None:
        """Keep the site's sshd files current: the user CA (TrustedUserCAKeys) and the KRL (RevokedKeys), each
        replaced in one rename so sshd never reads half a file."""
        ca, krl = self.portal.ssh_files()
        for name, data in ((SSH_CA_FILE, ca), (SSH_KRL_FILE, krl)):
            target = folder / name
            if target.exists() and target.read_bytes() == data:
                continue
            tmp = folder / f".{name}.tmp"
            tmp.write_bytes(data)
            tmp.chmod(0o644)
            tmp.replace(target)
            result.ssh_files.append(name)

    def release_started(self, portal: PortalClient | None = None) -> CycleResult:
        """Report and release, at once, the jobs the scheduler has started at their gate (Backend.at_gate) since
        the last pass: the start gate opens as soon as the portal holds the job for this site, not at the next
        pass. A job the portal answers Gone for is cancelled instead. `portal`: the client to report with (the gate
        watcher has its own, so that it never waits behind a pass's call)."""
        portal = portal or self.portal
        result = CycleResult()
        with self._lock:
            waiting = list(self._gated.items())
        for uid, scheduler_id in waiting:
            with self._lock:
                if uid not in self._gated:
                    continue  # a pass dealt with it meanwhile
                try:
                    if not self.backend.at_gate(uid):
                        continue
                    portal.report(JobReport(uid=uid, scheduler_id=scheduler_id, state=JobState.RUNNING))
                    self.backend.release(uid)
                    result.released.append(uid)
                except PortalCallError as exc:
                    if exc.status != GONE:
                        result.errors.append(f"job {uid}: {exc}")
                        continue
                    self.backend.cancel(uid)
                    result.revoked.append(uid)
                except BackendError as exc:
                    result.errors.append(f"job {uid}: {exc}")
                    continue
                self._gated.pop(uid, None)
        return result

    def _site_account(self, order: AccountOrder, result: CycleResult) -> None:
        """Open or close one person's site account, and tell the portal how it went."""
        try:
            if order.action == "open":
                self.backend.ensure_member(order.account, order.username)
                message = f"{order.username} can log in and run jobs under {order.account}"
            elif order.action == "close":
                self.backend.close_member(order.account, order.username, lock=order.lock)
                message = f"{order.username} closed to new jobs under {order.account}" + (
                    "; login locked" if order.lock else "")
            else:
                raise BackendError(f"unknown site account action {order.action!r}")
        except BackendError as exc:
            result.errors.append(f"site account {order.username}/{order.account}: {exc}")
            self.portal.site_account_done(order.id, ok=False, message=str(exc))
            return
        self.portal.site_account_done(order.id, ok=True, message=message)
        result.accounts.append(f"{order.action} {order.username}/{order.account}")

    def _revoke(self, uid: str, result: CycleResult) -> None:
        """Cancel this site's copy of a job that is no longer its own, and confirm once the scheduler has let go."""
        seen = self.backend.find(uid)
        if seen is not None and not seen.state.terminal:
            self.backend.cancel(uid)
            before, after = seen, self.backend.find(uid)
            if after is None and before.state == JobState.SUBMITTED:
                # Cancelled while it waited in the queue, and gone from it before the accounting lists it: it never
                # started, so it used nothing.
                after = replace(before, state=JobState.CANCELLED, gpu_seconds=0.0, message="cancelled while queued")
            if after is None or not after.state.terminal:
                return  # the scheduler is still stopping it, or still accounting for it: confirmed on a later pass
            seen = after
        self.portal.revocation_done(uid, found=seen, released=seen is not None and self.backend.released(uid))
        result.revoked.append(uid)

    def _report(self, report: JobReport, result: CycleResult) -> None:
        files = self.backend.output_files(report.uid) if report.state.terminal else None
        self.portal.report(report, log_tail=self.backend.logs(report.uid) if report.scheduler_id else "",
                           output_files=files or None)
        result.reported.append(report.uid)

    def run_forever(self, *, interval_s: float = 2.0, stop: Callable[[], bool] = lambda: False,
                    wake: bool = False) -> None:
        """Pass after pass, `interval_s` apart. With `wake`, a pass also starts as soon as the portal says there is
        work (long-poll), and jobs started at their gate are released as soon as they get there (module docstring).
        A woken pass leaves the heartbeat out only while the last one is less than `interval_s` old."""
        woken = threading.Event()
        if wake:
            threading.Thread(target=self._long_poll, args=(woken, stop), daemon=True,
                             name="aifactory-agent-wait").start()
            threading.Thread(target=self._watch_gates, args=(stop,), daemon=True,
                             name="aifactory-agent-gates").start()
        was_woken = False
        while not stop():
            woken.clear()
            started = time.monotonic()
            quick = was_woken and self._beat_at is not None and self._clock() - self._beat_at < interval_s
            try:
                self.cycle(woken=quick)
            except PortalCallError as exc:
                log.warning("%s", exc)
            except Exception:  # an agent outlives one bad pass; the next pass reconciles again
                log.exception("agent pass failed")
            if not wake:
                time.sleep(interval_s)
                continue
            was_woken = False
            deadline = started + interval_s
            while not stop() and (left := deadline - time.monotonic()) > 0:
                if woken.wait(min(0.5, left)):
                    was_woken = True
                    time.sleep(max(0.0, started + WAKE_GAP_S - time.monotonic()))
                    break

    def _watch_gates(self, stop: Callable[[], bool]) -> None:
        """Release the jobs that reach their gate, every GATE_WATCH_S while there are any (its own portal client)."""
        portal = self.portal.waiter()
        try:
            while not stop():
                self._gates.clear()
                with self._lock:
                    waiting = bool(self._gated)
                if not waiting:
                    self._gates.wait(0.5)
                    continue
                try:
                    self.release_started(portal)
                except Exception:  # the next pass reconciles
                    log.exception("releasing started jobs failed")
                time.sleep(GATE_WATCH_S)
        finally:
            portal.close()

    def _long_poll(self, woken: threading.Event, stop: Callable[[], bool]) -> None:
        waiter = self.portal.waiter()
        try:
            while not stop():
                try:
                    if waiter.wait():
                        woken.set()
                        time.sleep(WAKE_GAP_S)
                except PortalCallError as exc:
                    log.warning("waiting for work: %s", exc)
                    time.sleep(1.0)
        finally:
            waiter.close()
