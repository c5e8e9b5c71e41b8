"""`aifactory bench broker`: replay a GPU job trace on the federation's GPU machines under each placement policy.

With `--federation scaled` (the default) the catalog's GPU machines are scaled so that the trace loads them at
--load; with `--federation real` they keep their real node counts (about 63,000 GPUs) and the trace is raised to
the load by superposing time-shifted copies of it, then compressing its submission times by the factor left
(aifactory.core.sim.federation). Either way the load replayed is the one asked for: a scaled federation that
whole nodes cannot bring to it gets the trace raised the same way, and the output says how many copies and what
compression were used, with the job mix of the trace and of what was replayed side by side. Machines whose GPU
count or peak is unknown are left out and named. Each policy runs with the users' estimates
(true duration x an over-estimate factor, aifactory.core.sim.estimates), with the oracle (true durations), or
both. One row per run: queueing delay (mean, median, 99th percentile), mean job completion time (JCT) and its
ratio to home-site's, mean bounded slowdown, makespan, simulation speed and peak memory; then utilisation per
machine; then, for the policies that ask the sites for an expected start, how far the jobs' actual starts fell
from the start the policy was told on the machine it chose (prediction error). Home-site is always run, as the
baseline of the ratio.

The simulator runs compiled when `aifactory bench compile` has built it for the installed sources
(aifactory.core.sim.native), and interpreted otherwise, with the same schedules; the output says which.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import resource
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any, TextIO

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)

from aifactory.core.exceptions import CoreError, InvalidInput
from aifactory.core.sim import (
    ESTIMATES,
    POLICIES,
    WHOLE_NODES,
    WITHIN_NODE,
    Federation,
    JobMix,
    RaisedArrivals,
    RunMetrics,
    SimResult,
    delay_by_machine_over_time,
    delay_over_time,
    estimates,
    federation_at_load,
    lower_bound_mean_jct,
    measure,
    real_size_arrivals,
    simulable,
    simulate,
    simulate_arrivals,
)
from aifactory.core.sim.native import is_compiled
from aifactory.core.traces import Trace, read_trace

PROG = "aifactory bench broker"
BASELINE = "home-site"


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "broker", help="replay a GPU job trace on the federation under each placement policy",
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--trace", required=True, help="job trace: .csv (Philly-derived) or .swf / .swf.gz (SWF)")
    parser.add_argument("--load", type=float, default=0.9,
                        help="offered load as a fraction of the federation's capacity, in (0, 1] (default 0.9)")
    parser.add_argument("--policy", nargs="+", action="extend", metavar="NAME",
                        help=f"policies to run (default all): {', '.join(POLICIES)}")
    parser.add_argument("--seed", type=int, default=0, help="random seed for estimates and the random policy")
    parser.add_argument("--estimates", choices=[*ESTIMATES, "both"], default="both",
                        help="runtime estimates the policies see: user, oracle or both (default both)")
    parser.add_argument("--limit", type=int, help="replay only the first N jobs by submission time (with "
                                                  "--federation real: of the raised trace, compressed to the load)")
    parser.add_argument("--federation", choices=["scaled", "real"], default="scaled",
                        help="machines scaled to the trace (default), or at their real size with the trace raised")
    parser.add_argument("--plot-machines", metavar="FILE.png",
                        help="draw mean queueing delay per machine over time, for the broker's run")
    parser.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    parser.add_argument("--plot", metavar="FILE.png", help="draw mean queueing delay over time per policy")
    parser.set_defaults(func=run)


def _fail(message: str) -> int:
    print(f"{PROG}: {message}", file=sys.stderr)
    return 2


def _peak_rss_mib() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


class _Progress:
    """Progress bars on stderr (rich), one per run: only when stderr is a terminal and the output is not --json."""

    def __init__(self, stream: TextIO, json_output: bool) -> None:
        self.on = stream.isatty() and not json_output
        self.bars = (Progress(TextColumn("{task.description:<30}"), BarColumn(), MofNCompleteColumn(),
                              TextColumn("jobs"), TaskProgressColumn(), TimeElapsedColumn(), TimeRemainingColumn(),
                              console=Console(file=stream), transient=False) if self.on else None)

    def __enter__(self) -> _Progress:
        if self.bars is not None:
            self.bars.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self.bars is not None:
            self.bars.stop()

    def run(self, label: str, total: int) -> Callable[[int, int], None] | None:
        """The callback for one run's progress (None when off)."""
        bars = self.bars
        if bars is None:
            return None
        task = bars.add_task(label, total=total)

        def advance(done: int, jobs: int) -> None:
            bars.update(task, completed=done, total=jobs)

        return advance


def run(args: argparse.Namespace) -> int:
    if not (0 < args.load <= 1):
        return _fail(f"--load must be in (0, 1], got {args.load}")
    policies = list(dict.fromkeys(args.policy or POLICIES))
    unknown = [p for p in policies if p not in POLICIES]
    if unknown:
        return _fail(f"unknown policy {', '.join(unknown)}; choose from {', '.join(POLICIES)}")
    if BASELINE not in policies:
        policies.insert(0, BASELINE)
    if args.seed < 0:
        return _fail(f"--seed must be >= 0, got {args.seed}")
    if args.limit is not None and args.limit < 1:
        return _fail(f"--limit must be at least 1, got {args.limit}")
    for option, value in (("--plot", args.plot), ("--plot-machines", args.plot_machines)):
        if value and not value.lower().endswith(".png"):
            return _fail(f"{option} needs a .png file name, got {value}")
    if args.plot or args.plot_machines:
        try:
            import matplotlib  # noqa: F401
        except ImportError:
            return _fail("--plot and --plot-machines need matplotlib, which is not installed")
    kinds = list(ESTIMATES) if args.estimates == "both" else [args.estimates]
    if not Path(args.trace).is_file():
        return _fail(f"no such trace file: {args.trace}")

    try:
        source = read_trace(args.trace)
        if len(source) == 0:
            return _fail(f"{args.trace}: the trace has no job to replay")
        federation, replayed = _federation(source, args.load, args.federation, args.limit)
    except CoreError as exc:
        return _fail(exc.message)
    source_mix = JobMix.of(source)
    skipped = dict(source.skipped)
    del source  # only its job mix is kept, for the report

    results: list[SimResult] = []  # kept only for the plots: at 10 million jobs a run's result is 500 MB
    rows: list[tuple[RunMetrics, float]] = []
    replayed_mix: JobMix | None = JobMix.of(replayed) if isinstance(replayed, Trace) else None
    lower_bound = math.nan
    with _Progress(sys.stderr, args.json) as bars:
        for kind in kinds:
            est = None  # the estimates of a built trace, drawn once per kind
            for policy in policies:
                progress = bars.run(f"{policy} ({kind})", len(replayed))
                try:
                    if isinstance(replayed, RaisedArrivals):
                        result = simulate_arrivals(replayed, federation.machines, policy, kind, seed=args.seed,
                                                   progress=progress)
                    else:
                        if est is None:
                            est = estimates(kind, replayed.duration_s, args.seed)
                        result = simulate(replayed, federation.machines, policy, est, seed=args.seed,
                                          estimates_label=kind, progress=progress)
                except CoreError as exc:
                    return _fail(exc.message)
                if replayed_mix is None:
                    replayed_mix = JobMix.of_jobs(result.duration_s, result.gpus)
                if math.isnan(lower_bound):
                    lower_bound = lower_bound_mean_jct(result.duration_s, result.gpus, federation.machines)
                rows.append((measure(result), _peak_rss_mib()))
                if args.plot or (args.plot_machines and (policy == "broker" or policy == policies[-1])):
                    results.append(result)
                del result
            del est
    if replayed_mix is None:  # no run (not reached: home-site always runs)
        replayed_mix = source_mix

    report = _report(args, len(replayed), skipped, federation, rows, (source_mix, replayed_mix), lower_bound)
    if args.plot:
        _plot(results, Path(args.plot), args.load)
        report["plot"] = args.plot
    if args.plot_machines:
        chosen = next((r for r in results if r.policy == "broker"), results[-1])
        _plot_machines(chosen, Path(args.plot_machines), args.load)
        report["plot_machines"] = args.plot_machines
    if args.json:
        print(json.dumps(report, indent=2, allow_nan=False, default=_json_default))
    else:
        print(_text(report))
    return 0


def _federation(trace: Trace, load: float, kind: str,
                limit: int | None) -> tuple[Federation, Trace | RaisedArrivals]:
    """The federation and the jobs replayed on it: at real size, generated chunk by chunk as the run goes."""
    from aifactory.core.catalog import load_catalog

    machines, left_out = simulable(load_catalog().gpu_machines())
    if kind == "real":
        return real_size_arrivals(trace, machines, load, left_out=left_out, limit=limit)
    if kind == "scaled" and limit is not None and trace.head(limit).span_s <= 0:
        raise InvalidInput("trace", "the submissions span no time, so the offered load is undefined")
    return federation_at_load(trace, machines, load, real_size=kind == "real", left_out=left_out, limit=limit)


def _json_default(value: object) -> object:
    raise TypeError(f"not JSON serialisable: {value!r}")


def _finite(x: float) -> float | None:
    return x if math.isfinite(x) else None


def _mix(m: JobMix) -> dict[str, Any]:
    widths = dict(sorted(m.width_share.items(), key=lambda kv: -kv[1])[:6])
    return {"jobs": m.jobs, "share_by_gpus": {str(k): round(v, 4) for k, v in widths.items()},
            "duration_s": {k: round(v, 1) for k, v in m.duration_quantiles.items()},
            "mean_gpu_seconds": round(m.mean_gpu_seconds, 1)}


def _report(args: argparse.Namespace, jobs: int, skipped: dict[str, int], fed: Federation,
            rows: list[tuple[RunMetrics, float]], mix: tuple[JobMix, JobMix], lb: float) -> dict[str, Any]:
    baseline = {m.estimates: m.mean_jct_s for m, _ in rows if m.policy == BASELINE}
    out_rows = []
    for m, rss in rows:
        row = m.to_dict()
        base = baseline.get(m.estimates)
        row["jct_vs_home_site"] = _finite(m.mean_jct_s / base) if base else None
        row["peak_rss_mib"] = round(rss, 1)
        for key, value in list(row.items()):
            if isinstance(value, float):
                row[key] = _finite(value)
        row["utilisation"] = {k: _finite(v) for k, v in m.utilisation.items()}
        row["prediction_error"] = {k: {f: _finite(x) for f, x in v.items()} for k, v in m.prediction_error.items()}
        out_rows.append(row)
    return {
        "trace": args.trace,
        "jobs": jobs,
        "federation": args.federation,
        "arrivals": {"copies": fed.copies, "compression": fed.compression,
                     "how": "as recorded" if fed.copies == 1 and fed.compression == 1.0 else
                     f"{fed.copies} time-shifted copies superposed, submission times divided by "
                     f"{fed.compression:.4f}"},
        "job_mix": {"trace": _mix(mix[0]), "replayed": _mix(mix[1])},
        "skipped_records": skipped,
        "too_wide": rows[0][0].too_wide if rows else 0,
        "load": args.load,
        "achieved_load": fed.achieved_load,
        "offered_gpus": fed.offered_gpus,
        "capacity_a100_gpus": fed.capacity,
        "scale": fed.scale,
        "seed": args.seed,
        "machines": [{"key": m.key, "nodes": m.nodes, "gpus_per_node": m.gpus_per_node, "gpus": m.total_gpus,
                      "speed": m.speed, "real_nodes": m.real_nodes} for m in fed.machines],
        "left_out": dict(fed.left_out),
        "lower_bound_mean_jct_s": _finite(lb),
        "rows": out_rows,
        "peak_rss_mib": round(max((r for _, r in rows), default=_peak_rss_mib()), 1),
        "load_average": [round(x, 2) for x in os.getloadavg()],
        "simulator": "compiled" if is_compiled() else "interpreted",
    }


def _hours(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    return f"{seconds / 3600:.2f}"


def _text(r: dict[str, Any]) -> str:
    lines = [
        f"trace {r['trace']}: {r['jobs']} jobs" + (f", records skipped: {r['skipped_records']}"
                                                   if r["skipped_records"] else ""),
        f"jobs wider than every machine (not run): {r['too_wide']}",
        f"load asked {r['load']:g}, achieved {r['achieved_load']:.3f} "
        f"(offered {r['offered_gpus']:.1f} A100-GPUs busy on average; capacity {r['capacity_a100_gpus']:.1f})",
        f"federation {r['federation']}; arrivals {r['arrivals']['how']}",
        "job mix (trace -> replayed): jobs {} -> {}; share by GPUs {} -> {}; duration p50/p90/p99 s {} -> {}; "
        "mean GPU-s {} -> {}".format(
            r["job_mix"]["trace"]["jobs"], r["job_mix"]["replayed"]["jobs"],
            r["job_mix"]["trace"]["share_by_gpus"], r["job_mix"]["replayed"]["share_by_gpus"],
            "/".join(f"{v:g}" for v in r["job_mix"]["trace"]["duration_s"].values()),
            "/".join(f"{v:g}" for v in r["job_mix"]["replayed"]["duration_s"].values()),
            r["job_mix"]["trace"]["mean_gpu_seconds"], r["job_mix"]["replayed"]["mean_gpu_seconds"]),
        "machines: " + ", ".join(f"{m['key']} {m['nodes']}x{m['gpus_per_node']} GPUs speed {m['speed']:.2f}"
                                 for m in r["machines"]),
    ]
    if r["left_out"]:
        lines.append("left out: " + ", ".join(f"{k} ({why})" for k, why in r["left_out"].items()))
    lines.append(f"lower bound of mean JCT (each job alone on the fastest GPU it fits): "
                 f"{_hours(r['lower_bound_mean_jct_s'])} h")
    lines.append(f"load average (1, 5, 15 min) at the end: {', '.join(f'{x:g}' for x in r['load_average'])}; "
                 "jobs/s is over wall-clock time, jobs/CPU-s over the process's CPU time")
    lines.append(f"simulator: {r['simulator']}" + ("" if r["simulator"] == "compiled" else
                                                   " (`aifactory bench compile` builds the compiled one)"))
    lines.append("")
    head = (f"{'policy':<19} {'estimates':<9} {'wait mean h':>11} {'median h':>9} {'p99 h':>8} {'JCT mean h':>10} "
            f"{'vs home':>7} {'bsld':>8} {'makespan d':>10} {'jobs/s':>8} {'jobs/CPU-s':>10} {'peak MiB':>8}")
    lines.append(head)
    lines.append("-" * len(head))
    for row in r["rows"]:
        ratio = row["jct_vs_home_site"]
        bsld = row["mean_bounded_slowdown"]
        makespan = row["makespan_s"]
        lines.append(
            f"{row['policy']:<19} {row['estimates']:<9} {_hours(row['mean_wait_s']):>11} "
            f"{_hours(row['median_wait_s']):>9} {_hours(row['p99_wait_s']):>8} {_hours(row['mean_jct_s']):>10} "
            f"{(f'{ratio:.2f}' if ratio is not None else '-'):>7} "
            f"{(f'{bsld:.1f}' if bsld is not None else '-'):>8} "
            f"{(f'{makespan / 86400:.1f}' if makespan is not None else '-'):>10} "
            f"{row['jobs_per_s']:>8.0f} {(row['jobs_per_cpu_s'] or 0):>10.0f} {row['peak_rss_mib']:>8.0f}")
    lines.append("")
    keys = [m["key"] for m in r["machines"]]
    lines.append(f"{'utilisation':<30} " + " ".join(f"{k[:10]:>10}" for k in keys))
    for row in r["rows"]:
        util = row["utilisation"]
        cells = " ".join(f"{(f'{util[k]:.2f}' if util[k] is not None else '-'):>10}" for k in keys)
        lines.append(f"{row['policy'] + ' (' + row['estimates'] + ')':<30} {cells}")
    told = [row for row in r["rows"] if row["prediction_error"]]
    if told:
        lines.append("")
        lines.append("prediction error: actual start - the start the policy expected on the machine it chose, "
                     "mean / 90th percentile in hours, and the share of jobs more than 1 h late")
        columns = [*keys, WITHIN_NODE, WHOLE_NODES, "all"]
        lines.append(f"{'':<30} " + " ".join(f"{k[:16]:>16}" for k in columns))
        for row in told:
            err = row["prediction_error"]
            cells = " ".join(f"{_error_cell(err.get(k)):>16}" for k in columns)
            lines.append(f"{row['policy'] + ' (' + row['estimates'] + ')':<30} {cells}")
    return "\n".join(lines)


def _error_cell(e: dict[str, float | None] | None) -> str:
    if not e or e["mean_s"] is None or e["p90_s"] is None or e["late_1h"] is None:
        return "-"
    return f"{e['mean_s'] / 3600:.2f}/{e['p90_s'] / 3600:.2f} {100 * e['late_1h']:.0f}%"


def _plot(results: list[SimResult], path: Path, load: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    kinds = list(dict.fromkeys(r.estimates for r in results))
    fig, axes = plt.subplots(len(kinds), 1, figsize=(10, 4.2 * len(kinds)), sharex=True, squeeze=False)
    for ax, kind in zip(axes[:, 0], kinds, strict=True):
        for r in results:
            if r.estimates != kind:
                continue
            days = float(r.submit_s.max() - r.submit_s.min()) / 86400 if len(r.submit_s) else 0.0
            x, y = delay_over_time(r, bins=max(20, min(500, math.ceil(days))))  # about one bin a day
            ax.plot(x / 86400, y / 3600, label=r.policy, linewidth=1.2)
        ax.set_yscale("symlog", linthresh=0.1)
        ax.set_ylabel("mean queueing delay (h)")
        ax.set_title(f"{kind} estimates, load {load:g}")
        ax.grid(True, alpha=0.3)
        ax.legend(loc="upper left", fontsize=8, ncol=3)
    axes[-1, 0].set_xlabel("submission time (days from the first job)")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _plot_machines(result: SimResult, path: Path, load: float) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    days = float(result.submit_s.max() - result.submit_s.min()) / 86400 if len(result.submit_s) else 0.0
    x, y = delay_by_machine_over_time(result, bins=max(20, min(500, math.ceil(days))))
    fig, ax = plt.subplots(figsize=(10, 4.5))
    for i, m in enumerate(result.machines):
        ax.plot(x / 86400, y[i] / 3600, label=f"{m.key} ({m.total_gpus} GPUs)", linewidth=1.2)
    ax.set_yscale("symlog", linthresh=0.1)
    ax.set_ylabel("mean queueing delay (h)")
    ax.set_xlabel("submission time (days from the first job)")
    ax.set_title(f"{result.policy}, {result.estimates} estimates, load {load:g}, {len(result.submit_s):,} jobs")
    ax.grid(True, alpha=0.3)
    ax.legend(loc="upper left", fontsize=8, ncol=4)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
