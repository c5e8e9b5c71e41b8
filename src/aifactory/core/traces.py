"""Readers for GPU-cluster job traces, into arrays the simulator uses directly.

Two formats:

- the Philly-derived CSV (Microsoft's Philly traces as published by the Sia artifact): a header
  ``timestamp,duration,num_gpus,gpu_time,cluster`` and one job per line: submission time
  (``YYYY-MM-DD HH:MM:SS``, read as UTC; only differences matter), duration in seconds, GPUs, GPU-seconds
  (not used) and the virtual cluster, which becomes the job's project;
- the Standard Workload Format of the Parallel Workloads Archive (``.swf``, ``.swf.gz``): ``;`` starts a comment,
  each record has 18 whitespace-separated fields. Used: 2 submit time, 4 run time, 5 allocated processors
  (8 requested processors when 5 is unknown) taken as GPUs, 12 user id (or 13 group id) as the project.
  Records whose run time, processors or submit time are unknown (-1) cannot be simulated: they are skipped and
  counted in `Trace.skipped`, by reason.

A malformed line raises TraceError(path, line number, field, message); no line is skipped silently. Blank lines
carry no record and are ignored. Jobs come back sorted by submission time (stable, so ties keep file order), with
times in seconds from the first submission.
"""

from __future__ import annotations

import csv
import gzip
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Literal

import numpy as np
import numpy.typing as npt

from aifactory.core.exceptions import InvalidInput, TraceError

PHILLY_COLUMNS = ("timestamp", "duration", "num_gpus", "gpu_time", "cluster")
SWF_FIELDS = 18


@dataclass(frozen=True, eq=False)
class Trace:
    """Jobs of a trace, one entry per job in each array, sorted by submission time. Arrays are read-only."""

    path: str
    submit_s: npt.NDArray[np.float64]
    """Seconds from the first submission."""
    duration_s: npt.NDArray[np.float64]
    """Runtime in seconds as recorded; the simulator takes it as measured on an A100."""
    gpus: npt.NDArray[np.int64]
    project: npt.NDArray[np.int64]
    """Index into `projects`."""
    projects: tuple[str, ...]
    origin: float = 0.0
    """Absolute time of the first submission in the trace's clock (Unix seconds for the Philly CSV)."""
    skipped: Mapping[str, int] = field(default_factory=lambda: MappingProxyType({}))
    """Records left out, counted by reason (only SWF records with unknown values)."""

    def __len__(self) -> int:
        return int(self.submit_s.shape[0])

    @property
    def span_s(self) -> float:
        """Seconds between the first and the last submission."""
        return float(self.submit_s[-1] - self.submit_s[0]) if len(self) else 0.0

    @property
    def gpu_seconds(self) -> float:
        """GPU-seconds demanded (at A100 speed)."""
        return float(np.dot(self.duration_s, self.gpus.astype(np.float64)))

    def head(self, n: int) -> Trace:
        """The first `n` jobs by submission time."""
        if n < 0:
            raise InvalidInput("limit", f"must be >= 0, got {n}")
        return _make(self.path, self.submit_s[:n] + self.origin, self.duration_s[:n], self.gpus[:n],
                     self.project[:n], self.projects, self.skipped)


def trace_from_arrays(path: str, submit_s: npt.ArrayLike, duration_s: npt.ArrayLike, gpus: npt.ArrayLike,
                      project: npt.ArrayLike, projects: tuple[str, ...],
                      skipped: Mapping[str, int] | None = None) -> Trace:
    """A trace from per-job values (any order; they are sorted by submission time). Checks the values."""
    submit = np.asarray(submit_s, dtype=np.float64)
    duration = np.asarray(duration_s, dtype=np.float64)
    width = np.asarray(gpus, dtype=np.int64)
    proj = np.asarray(project, dtype=np.int64)
    n = submit.shape[0]
    for name, a in (("duration_s", duration), ("gpus", width), ("project", proj)):
        if a.shape != (n,):
            raise InvalidInput(name, f"needs one value per job ({n}), got shape {a.shape}")
    if n:
        if not (np.isfinite(submit).all() and np.isfinite(duration).all()):
            raise InvalidInput("submit_s", "submission times and durations must be finite")
        if (duration < 0).any():
            raise InvalidInput("duration_s", "durations must be >= 0")
        if (width < 1).any():
            raise InvalidInput("gpus", "every job needs at least 1 GPU")
        if (proj < 0).any() or (proj >= len(projects)).any():
            raise InvalidInput("project", "project indices must point into projects")
    return _make(path, submit, duration, width, proj, projects, skipped or {})


def _readonly(a: npt.NDArray[np.generic]) -> None:
    a.flags.writeable = False


def _make(path: str, submit: npt.NDArray[np.float64], duration: npt.NDArray[np.float64], gpus: npt.NDArray[np.int64],
          project: npt.NDArray[np.int64], projects: tuple[str, ...], skipped: Mapping[str, int]) -> Trace:
    order = np.argsort(submit, kind="stable")
    submit = submit[order]
    origin = float(submit[0]) if submit.shape[0] else 0.0
    arrays = (submit - origin, duration[order].copy(), gpus[order].copy(), project[order].copy())
    for a in arrays:
        _readonly(a)
    return Trace(path=path, submit_s=arrays[0], duration_s=arrays[1], gpus=arrays[2], project=arrays[3],
                 projects=projects, origin=origin, skipped=MappingProxyType(dict(skipped)))


def read_trace(path: str | Path) -> Trace:
    """Read a trace, the format chosen by the file name: ``.csv`` Philly CSV, ``.swf`` or ``.swf.gz`` SWF."""
    p = Path(path)
    name = p.name.lower()
    if name.endswith(".csv"):
        return read_philly_csv(p)
    if name.endswith(".swf") or name.endswith(".swf.gz"):
        return read_swf(p)
    raise InvalidInput("trace", f"{p}: unknown trace format (expected .csv, .swf or .swf.gz)")


def _open_lines(p: Path) -> list[str]:
    if not p.is_file():
        raise InvalidInput("trace", f"{p}: no such file")
    try:
        if p.name.lower().endswith(".gz"):
            with gzip.open(p, "rt", encoding="utf-8") as fh:
                return fh.read().splitlines()
        return p.read_text(encoding="utf-8").splitlines()
    except (UnicodeDecodeError, OSError, EOFError) as exc:
        raise TraceError(str(p), 0, "file", f"cannot be read: {exc}") from exc


def _number(text: str, path: str, line: int, name: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise TraceError(path, line, name, f"not a number: {text!r}") from None
    if not math.isfinite(value):
        raise TraceError(path, line, name, f"not a finite number: {text!r}")
    return value


def _whole(text: str, path: str, line: int, name: str) -> int:
    value = _number(text, path, line, name)
    if value != int(value):
        raise TraceError(path, line, name, f"not a whole number: {text!r}")
    return int(value)


def read_philly_csv(path: str | Path) -> Trace:
    """Read the Philly-derived CSV (see the module docstring). Each virtual cluster becomes a project."""
    p = Path(path)
    where = str(p)
    lines = _open_lines(p)
    if not lines:
        raise TraceError(where, 1, "header", "empty file")
    header = [h.strip() for h in next(csv.reader([lines[0]]))]
    missing = [c for c in ("timestamp", "duration", "num_gpus", "cluster") if c not in header]
    if missing:
        raise TraceError(where, 1, "header", f"missing column(s) {', '.join(missing)}; header is {lines[0]!r}")
    width = len(header)
    i_ts, i_dur, i_gpu, i_vc = (header.index(c) for c in ("timestamp", "duration", "num_gpus", "cluster"))

    stamps: list[str] = []
    durations: list[float] = []
    gpus: list[int] = []
    project: list[int] = []
    line_of: list[int] = []
    projects: dict[str, int] = {}
    for row_no, row in enumerate(csv.reader(lines[1:]), start=2):
        if not row:
            continue
        if len(row) != width:
            if len(row) == 1 and not row[0].strip():
                continue
            raise TraceError(where, row_no, "line", f"expected {width} fields, got {len(row)}")
        try:
            d = float(row[i_dur])
        except ValueError:
            raise TraceError(where, row_no, "duration", f"not a number: {row[i_dur]!r}") from None
        if not (d >= 0 and math.isfinite(d)):
            raise TraceError(where, row_no, "duration", f"must be a finite number of seconds >= 0: {row[i_dur]!r}")
        try:
            g = int(row[i_gpu])
        except ValueError:
            raise TraceError(where, row_no, "num_gpus", f"not a whole number: {row[i_gpu]!r}") from None
        if g < 1:
            raise TraceError(where, row_no, "num_gpus", f"must be at least 1: {row[i_gpu]!r}")
        vc = row[i_vc].strip()
        if not vc:
            raise TraceError(where, row_no, "cluster", "empty")
        stamps.append(row[i_ts].strip())
        durations.append(d)
        gpus.append(g)
        project.append(projects.setdefault(vc, len(projects)))
        line_of.append(row_no)

    submit = _parse_stamps(stamps, line_of, where)
    return _make(where, submit, np.array(durations, dtype=np.float64), np.array(gpus, dtype=np.int64),
                 np.array(project, dtype=np.int64), tuple(projects), {})


def _parse_stamps(stamps: list[str], line_of: list[int], where: str) -> npt.NDArray[np.float64]:
    """Timestamps to Unix seconds (UTC), all at once; on failure, find the first bad one for the error."""
    if not stamps:
        return np.zeros(0, dtype=np.float64)
    try:
        parsed = np.array(stamps, dtype="datetime64[s]")
    except ValueError:
        parsed = None
    if parsed is None or np.isnat(parsed).any():
        parsed = np.empty(len(stamps), dtype="datetime64[s]")
        for k, (text, row_no) in enumerate(zip(stamps, line_of, strict=True)):
            try:
                value = np.datetime64(text, "s")
                bad = bool(np.isnat(value))
            except ValueError:
                bad = True
            if bad:
                raise TraceError(where, row_no, "timestamp", f"not a date and time: {text!r}")
            parsed[k] = value
    return parsed.astype(np.int64).astype(np.float64)


def read_swf(path: str | Path, project_by: Literal["user", "group"] = "user") -> Trace:
    """Read a Standard Workload Format trace (see the module docstring); processors are taken as GPUs.

    The project is the user id (or the group id with project_by="group"), falling back to the other when unknown.
    """
    p = Path(path)
    where = str(p)
    return _swf_records(_open_lines(p), where, project_by)


def _swf_records(lines: Iterable[str], where: str, project_by: Literal["user", "group"]) -> Trace:
    submit: list[float] = []
    durations: list[float] = []
    gpus: list[int] = []
    project: list[int] = []
    projects: dict[str, int] = {}
    skipped = {"run time unknown": 0, "processors unknown": 0, "submit time unknown": 0}
    first, second = (11, 12) if project_by == "user" else (12, 11)
    for row_no, raw in enumerate(lines, start=1):
        line = raw.strip()
        if not line or line.startswith(";"):
            continue
        parts = line.split()
        if len(parts) != SWF_FIELDS:
            raise TraceError(where, row_no, "line", f"expected {SWF_FIELDS} fields, got {len(parts)}")
        t = _number(parts[1], where, row_no, "submit time")
        run = _number(parts[3], where, row_no, "run time")
        alloc = _whole(parts[4], where, row_no, "allocated processors")
        req = _whole(parts[7], where, row_no, "requested processors")
        ids = (_whole(parts[first], where, row_no, "user id" if first == 11 else "group id"),
               _whole(parts[second], where, row_no, "group id" if first == 11 else "user id"))
        if run == -1:
            skipped["run time unknown"] += 1
            continue
        if run < 0:
            raise TraceError(where, row_no, "run time", f"negative: {parts[3]!r}")
        n = alloc if alloc > 0 else req
        if n <= 0:
            skipped["processors unknown"] += 1
            continue
        if t < 0:
            skipped["submit time unknown"] += 1
            continue
        if ids[0] >= 0:
            name = f"{project_by}-{ids[0]}"
        elif ids[1] >= 0:
            name = f"{'group' if project_by == 'user' else 'user'}-{ids[1]}"
        else:
            name = "unknown"
        submit.append(t)
        durations.append(run)
        gpus.append(n)
        project.append(projects.setdefault(name, len(projects)))
    return _make(where, np.array(submit, dtype=np.float64), np.array(durations, dtype=np.float64),
                 np.array(gpus, dtype=np.int64), np.array(project, dtype=np.int64), tuple(projects),
                 {k: v for k, v in skipped.items() if v})


def superpose(trace: Trace, copies: int, limit: int | None = None) -> Trace:
    """`copies` copies of the trace over its own span: copy c has every job of the trace, its submission shifted by
    c/copies of the span and wrapped around within the span (a circular shift), and its own projects (the name
    with `#c`). The offered load is `copies` times the trace's, and the job mix (each job's GPUs, duration and
    project's jobs) is the trace's, `copies` times over. With `limit`, only the first `limit` jobs by submission
    time are kept; the shifts spread the copies over the whole span, so a head still draws on every part of the
    trace."""
    if copies < 1:
        raise InvalidInput("copies", f"must be at least 1, got {copies}")
    n = len(trace)
    if copies == 1 and (limit is None or limit >= n):
        return trace
    span = trace.span_s
    shifts = np.arange(copies, dtype=np.float64) * (span / copies)
    submit = (trace.submit_s[None, :] + shifts[:, None]).ravel()
    if span > 0:
        np.subtract(submit, span, out=submit, where=submit > span)
    order = np.argsort(submit, kind="stable")
    if limit is not None:
        order = order[:limit]
    job = order % n
    copy = order // n
    projects = tuple(name if c == 0 else f"{name}#{c}" for c in range(copies) for name in trace.projects)
    return _make(trace.path, submit[order], trace.duration_s[job], trace.gpus[job],
                 trace.project[job] + copy * len(trace.projects), projects, trace.skipped)


def compress_time(trace: Trace, factor: float) -> Trace:
    """The same jobs with submission times divided by `factor` (> 1 packs them closer, < 1 spreads them): the
    offered load times `factor`; GPUs, durations and projects unchanged."""
    if not (factor > 0 and math.isfinite(factor)):
        raise InvalidInput("factor", f"must be a positive number, got {factor}")
    if factor == 1.0:
        return trace
    return _make(trace.path, trace.submit_s / factor, trace.duration_s, trace.gpus, trace.project, trace.projects,
                 trace.skipped)
