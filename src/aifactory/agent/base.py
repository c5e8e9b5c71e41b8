"""What a site's scheduler backend must offer the agent.

A backend knows jobs by the portal's job uid, which it writes into the scheduler's own record
(Slurm: the job name and comment; local: the job's state folder). `find` is how the agent
reconciles after a crash: it asks the scheduler, never its own memory, whether a job exists.

The start gate. A job submitted with `gated=True` starts at the scheduler like any other (it holds its
resources and `find` reports it running), but its commands wait until the agent calls `release`, which
it does only once the portal has accepted its report that the job runs at this site. A gated job that
is not released within `start_wait_s` ends without running its commands. This is what keeps a job that
moved to another site, while this site's agent was away, from running twice (see the portal's
aifactory.portal.jobs.services).
"""

from __future__ import annotations

import json
import re
from abc import ABC, abstractmethod
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path

from aifactory.core.exceptions import InvalidInput
from aifactory.core.jobs import JobState
from aifactory.core.jobspec import check_image, check_paths

LEASE_KILL_AFTER_S = 20
"""A job whose lease ran out gets TERM (train.py checkpoints and exits), then KILL this many seconds later. The
portal's LEASE_GRACE_S must be longer than this plus the difference between the site's and the portal's clocks."""
MAX_MARKERS = 32
"""Checkpoint markers read from a job's folder per pass, the newest."""
MAX_MARKER_BYTES = 4096

ACCOUNT_RE = re.compile(r"^[a-z][a-z0-9_-]{1,62}$")
UID_RE = re.compile(r"^[0-9a-f]{32}$")
ENV_NAME_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
SITE_USER_RE = re.compile(r"^[a-z][a-z0-9]{2,31}$")


class BackendError(Exception):
    """The scheduler refused or failed a command; message carries its own words."""


@dataclass(frozen=True)
class BatchJob:
    """A job as the agent hands it to a backend. `script` is the user's commands, run by bash as a file."""

    uid: str
    name: str
    account: str
    gpus: int
    time_limit_s: int
    script: str
    nodes: int = 1
    env: Mapping[str, str] = field(default_factory=dict)
    image: str = ""
    """An Apptainer image to run the script in; empty runs it on the node itself."""
    inputs: tuple[str, ...] = ()
    """Absolute paths that must exist before the script starts; bound read-only into the container."""
    outputs: tuple[str, ...] = ()
    """Paths under the job's folder listed, with their sizes, when the script ends."""
    gated: bool = False
    start_wait_s: int = 600
    user: str = ""
    """The person's account at the site the job runs as; empty: the agent's own user."""
    lease_s: int = 0
    """With a lease (a managed run's segment), the job's commands are stopped when the agent has not renewed the
    lease (Backend.renew_lease) for this long: TERM, then KILL LEASE_KILL_AFTER_S later. 0: no lease."""

    def __post_init__(self) -> None:
        if not UID_RE.match(self.uid):
            raise ValueError(f"job uid must be 32 hex digits, got {self.uid!r}")
        if not ACCOUNT_RE.match(self.account):
            raise ValueError(f"account {self.account!r} is not a valid scheduler account name")
        if not 0 <= self.gpus <= 1024 or not 1 <= self.nodes <= 4096:
            raise ValueError("gpus must be 0..1024 and nodes 1..4096")
        if not 60 <= self.time_limit_s <= 30 * 86400:
            raise ValueError("time limit must be between 1 minute and 30 days")
        for key in self.env:
            if not ENV_NAME_RE.match(key):
                raise ValueError(f"environment variable name {key!r} is not valid")
        if self.user and not SITE_USER_RE.match(self.user):
            raise ValueError(f"site user {self.user!r} is not a valid site account name")
        if not 1 <= self.start_wait_s <= 86400:
            raise ValueError("start_wait_s must be between 1 s and a day")
        if not 0 <= self.lease_s <= 86400:
            raise ValueError("lease_s must be between 0 and a day")
        try:  # the portal checked these; a site checks again what it will write into a batch script
            if self.image:
                check_image(self.image)
            check_paths(list(self.inputs), "inputs", absolute=True)
            check_paths(list(self.outputs), "outputs", absolute=False)
        except InvalidInput as exc:
            raise ValueError(exc.message) from None


@dataclass(frozen=True)
class JobReport:
    """What the scheduler says of a job now."""

    uid: str
    scheduler_id: str
    state: JobState
    exit_code: int | None = None
    gpu_seconds: float = 0.0
    started_at: datetime | None = None
    ended_at: datetime | None = None
    message: str = ""


class Backend(ABC):
    """A site's scheduler, seen by the agent."""

    name: str = "base"

    @abstractmethod
    def ensure_account(self, account: str, gpu_minutes: int) -> None:
        """Create the account if missing and set its GPU-minutes limit (idempotent)."""

    @abstractmethod
    def submit(self, job: BatchJob) -> str:
        """Hand the job to the scheduler and return the scheduler's id for it."""

    def submit_unseen(self, job: BatchJob) -> str:
        """`submit`, for a job whose uid `find` has just said the scheduler does not know: a backend whose `submit`
        asks the scheduler again first (Slurm: squeue and sacct) skips that here."""
        return self.submit(job)

    @abstractmethod
    def find(self, uid: str) -> JobReport | None:
        """The scheduler's current record of the job, or None if it has never seen it."""

    def find_live(self, uid: str) -> JobReport | None:
        """`find`, for a copy that may still run (queued, running, or ending): None when the scheduler holds no such
        copy. A backend may leave out here what only its accounting keeps (jobs ended a while ago), which costs a
        second question. The agent asks this of a job the portal holds pending (see Agent._handle)."""
        return self.find(uid)

    @abstractmethod
    def cancel(self, uid: str) -> None:
        """Cancel the job if it is still queued or running."""

    @abstractmethod
    def logs(self, uid: str, max_bytes: int = 65536) -> str:
        """The tail of the job's output."""

    @abstractmethod
    def release(self, uid: str) -> None:
        """Open a gated job's start gate: its commands may run now."""

    @abstractmethod
    def released(self, uid: str) -> bool:
        """Whether the job's start gate has been opened (True for a job that was not gated)."""

    def at_gate(self, uid: str) -> bool:
        """Whether the scheduler has started the gated job and its commands wait at the start gate: a local file
        the job writes, read without asking the scheduler, so the agent may look often."""
        return False

    def ensure_member(self, account: str, user: str) -> None:
        """Open the person's site account `user` under the project's `account`: the POSIX user and the association,
        able to submit (idempotent)."""
        raise BackendError(f"the {self.name} backend has no accounts per person")

    def close_member(self, account: str, user: str, *, lock: bool) -> None:
        """Close `user`'s association under `account` to new jobs (running ones finish); with `lock`, also lock the
        POSIX user (no login). Idempotent."""
        raise BackendError(f"the {self.name} backend has no accounts per person")

    def output_files(self, uid: str) -> list[dict[str, object]]:
        """The job's outputs found when it ended: [{"path", "bytes"}]; empty when it listed none."""
        return []

    def renew_lease(self, uid: str, until: float) -> None:
        """Renew a job's lease up to `until` (seconds since the epoch): the job stops when that time passes. A backend
        without leases does nothing (its jobs are given none)."""
        return None

    def checkpoints(self, uid: str) -> list[dict[str, object]]:
        """The checkpoint markers the job wrote into its folder (`checkpoints/*.json`, the newest MAX_MARKERS), as
        read: the portal checks every value."""
        return []

    def queue_wait_s(self) -> float:
        """Expected wait before a new job starts; 0 when the backend cannot tell."""
        return 0.0


def read_markers(folder: Path) -> list[dict[str, object]]:
    """The newest MAX_MARKERS checkpoint markers (`*.json`, each a JSON object of at most MAX_MARKER_BYTES) in the
    folder, oldest first; files that are not such an object are left out."""
    try:
        names = sorted(p.name for p in folder.iterdir() if p.name.endswith(".json") and not p.name.startswith("."))
    except OSError:
        return []
    found: list[dict[str, object]] = []
    for name in names[-MAX_MARKERS:]:
        try:
            with (folder / name).open("rb") as handle:
                data = handle.read(MAX_MARKER_BYTES + 1)
            value = json.loads(data) if len(data) <= MAX_MARKER_BYTES else None
        except (OSError, ValueError):
            continue
        if isinstance(value, dict):
            found.append({k: value[k] for k in ("step", "tokens", "path", "time") if k in value})
    return found
