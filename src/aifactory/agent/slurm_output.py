"""Slurm's own output read as data: squeue and sacct lines, job states, times and TRES.

Scheduler output is input from outside: every malformed line raises BackendError quoting the line,
never an IndexError or a silent skip.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime

from aifactory.agent.base import BackendError
from aifactory.core.jobs import JobState

JOB_ID_RE = re.compile(r"^(\d+)([_+]\d+)?$")
EXIT_CODE_RE = re.compile(r"^(\d+):(\d+)$")

_STATES: dict[str, JobState] = {
    "PENDING": JobState.SUBMITTED,
    "CONFIGURING": JobState.SUBMITTED,
    "REQUEUED": JobState.SUBMITTED,
    "REQUEUE_HOLD": JobState.SUBMITTED,
    "REQUEUE_FED": JobState.SUBMITTED,
    "RESIZING": JobState.SUBMITTED,
    "RUNNING": JobState.RUNNING,
    "COMPLETING": JobState.RUNNING,
    "SUSPENDED": JobState.RUNNING,
    "STOPPED": JobState.RUNNING,
    "SIGNALING": JobState.RUNNING,
    "STAGE_OUT": JobState.RUNNING,
    "COMPLETED": JobState.COMPLETED,
    "FAILED": JobState.FAILED,
    "TIMEOUT": JobState.FAILED,
    "NODE_FAIL": JobState.FAILED,
    "OUT_OF_MEMORY": JobState.FAILED,
    "BOOT_FAIL": JobState.FAILED,
    "DEADLINE": JobState.FAILED,
    "PREEMPTED": JobState.FAILED,
    "SPECIAL_EXIT": JobState.FAILED,
    "CANCELLED": JobState.CANCELLED,
    "REVOKED": JobState.CANCELLED,
}


def map_state(raw: str, line: str = "") -> JobState:
    """Slurm's state word (sacct may add "by <uid>") as a JobState; BackendError when unknown."""
    word = raw.split(" ", 1)[0].strip().rstrip("+")
    try:
        return _STATES[word]
    except KeyError:
        raise BackendError(f"unknown Slurm job state {raw!r} in line {line!r}") from None


@dataclass(frozen=True)
class SqueueRow:
    job_id: str
    name: str
    state: JobState
    raw_state: str
    reason: str
    start: datetime | None


@dataclass(frozen=True)
class SacctRow:
    job_id: str
    name: str
    state: JobState
    raw_state: str
    exit_code: int
    signal: int
    elapsed_s: int
    gpus: int
    allocated: bool  # AllocTRES not empty: the job had resources (it started)
    start: datetime | None
    end: datetime | None


def _job_id(value: str, line: str) -> str:
    if not JOB_ID_RE.match(value):
        raise BackendError(f"malformed Slurm job id {value!r} in line {line!r}")
    return value


def job_id_key(job_id: str) -> int:
    match = JOB_ID_RE.match(job_id)
    return int(match.group(1)) if match else -1


def parse_time(value: str, line: str) -> datetime | None:
    """Slurm's local ISO time as an aware UTC datetime; None for Unknown/None/N/A/empty."""
    value = value.strip()
    if value in {"", "Unknown", "None", "N/A", "NONE"}:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise BackendError(f"malformed time {value!r} in line {line!r}") from None
    return parsed.astimezone(UTC)


def _gpus_from_tres(tres: str, gres: str, line: str) -> int:
    """GPUs in a TRES string such as `billing=1,cpu=1,gres/gpu=2,node=1` (typed gres/gpu:a100=2 summed)."""
    untyped: int | None = None
    typed = 0
    key = f"gres/{gres}"
    for item in filter(None, tres.strip().split(",")):
        name, sep, value = item.partition("=")
        if not sep:
            raise BackendError(f"malformed TRES {item!r} in line {line!r}")
        if name != key and not name.startswith(key + ":"):
            continue
        if not value.isdigit():
            raise BackendError(f"malformed GPU count {item!r} in line {line!r}")
        if name == key:
            untyped = int(value)
        else:
            typed += int(value)
    return untyped if untyped is not None else typed


def parse_squeue_line(line: str) -> SqueueRow:
    """One line of `squeue -h -o '%i|%j|%T|%r|%S'`."""
    fields = line.split("|")
    if len(fields) != 5:
        raise BackendError(f"squeue line does not have 5 fields: {line!r}")
    job_id, name, raw_state, reason, start = fields
    return SqueueRow(
        job_id=_job_id(job_id.strip(), line),
        name=name,
        state=map_state(raw_state, line),
        raw_state=raw_state.strip(),
        reason=reason.strip(),
        start=parse_time(start, line),
    )


def parse_sacct_line(line: str, gres: str = "gpu") -> SacctRow:
    """One line of `sacct -X -n -P --format=JobID,JobName,State,ExitCode,ElapsedRaw,AllocTRES,Start,End`."""
    fields = line.split("|")
    if len(fields) != 8:
        raise BackendError(f"sacct line does not have 8 fields: {line!r}")
    job_id, name, raw_state, exit_code, elapsed, tres, start, end = fields
    code = EXIT_CODE_RE.match(exit_code.strip())
    if code is None:
        raise BackendError(f"malformed exit code {exit_code!r} in line {line!r}")
    if not elapsed.strip().isdigit():
        raise BackendError(f"malformed elapsed seconds {elapsed!r} in line {line!r}")
    return SacctRow(
        job_id=_job_id(job_id.strip(), line),
        name=name,
        state=map_state(raw_state, line),
        raw_state=raw_state.strip(),
        exit_code=int(code.group(1)),
        signal=int(code.group(2)),
        elapsed_s=int(elapsed),
        gpus=_gpus_from_tres(tres, gres, line),
        allocated=bool(tres.strip()),
        start=parse_time(start, line),
        end=parse_time(end, line),
    )
