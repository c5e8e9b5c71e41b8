#!/usr/bin/env python
"""Check the expected start found by time buckets against the walk over the running jobs, on the machine states of
a real-size run.

    .venv/bin/python scripts/check-release-buckets.py TRACE [--limit N] [--every K] [--policy NAME] [--load X]

Runs `aifactory bench broker --federation real` (the trace raised to the load at the federation's real size) under
the policy, and at every K-th expected start that a machine keeping its releases by time bucket answers
(`SitePrediction._fluid_start_by_buckets`), also works the same answer out with the walk
(`SitePrediction._fluid_start`) on the same state, and compares. The walk's profile is rebuilt for each check and
the machine's own state is restored afterwards, so the run itself is the unchecked one. Prints the number of
answers checked, the largest difference relative to the wait (answer - now, at least 1 s), the worst case, and how
many differ by more than 1e-6 of the answer; exits 1 if any does.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from aifactory.core.catalog import load_catalog
from aifactory.core.sim import real_size_arrivals, simulable, simulate_arrivals
from aifactory.core.sim.machine import MachineState
from aifactory.core.sim.prediction import SitePrediction
from aifactory.core.traces import read_trace

TOLERANCE = 1e-6


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("trace")
    parser.add_argument("--limit", type=int, default=1_000_000)
    parser.add_argument("--every", type=int, default=50)
    parser.add_argument("--policy", default="broker")
    parser.add_argument("--load", type=float, default=0.9)
    args = parser.parse_args()
    if args.every < 1 or args.limit < 1:
        parser.error("--every and --limit must be at least 1")

    machines, left_out = simulable(load_catalog().gpu_machines())
    federation, arrivals = real_size_arrivals(read_trace(args.trace), machines, args.load, left_out=left_out,
                                              limit=args.limit)
    stats: dict[str, Any] = {"answers": 0, "checked": 0, "worst": 0.0, "case": None, "differ": 0}
    buckets = SitePrediction._fluid_start_by_buckets
    walker = SitePrediction()

    def checked(m: MachineState, gpus: int, ahead: float, now: float) -> float:
        t = float(buckets(m, gpus, ahead, now))
        stats["answers"] += 1
        if stats["answers"] % args.every:
            return t
        kept = m.release_version, m.release_from
        m.release_version = -1  # the walk starts its own profile from now
        w = walker._fluid_start(m, gpus, ahead, now)
        m.release_version, m.release_from = kept
        stats["checked"] += 1
        relative = abs(w - t) / max(1.0, abs(w - now))
        if relative > stats["worst"]:
            stats["worst"] = relative
            stats["case"] = {"machine": m.index, "gpus": gpus, "ahead": ahead, "now": now, "buckets": t, "walk": w,
                             "running": len(m.running), "queued": m.queued}
        if abs(w - t) > TOLERANCE * max(1.0, abs(w)):
            stats["differ"] += 1
        return t

    SitePrediction._fluid_start_by_buckets = staticmethod(checked)
    try:
        simulate_arrivals(arrivals, federation.machines, args.policy, "user")
    finally:
        SitePrediction._fluid_start_by_buckets = staticmethod(buckets)
    print(f"{args.limit} jobs, {args.policy}: {stats['answers']} answers by buckets, {stats['checked']} checked "
          f"against the walk; largest difference relative to the wait {stats['worst']:.3g}; "
          f"differing by more than {TOLERANCE:g} of the answer: {stats['differ']}")
    print(f"worst case: {stats['case']}")
    return 1 if stats["differ"] else 0


if __name__ == "__main__":
    sys.exit(main())
