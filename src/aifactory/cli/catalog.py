"""`aifactory catalog`: the federation's machines (GPU partitions) and AI Factories."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from typing import Any

from aifactory.core.catalog import Machine, load_catalog
from aifactory.core.exceptions import CoreError
from aifactory.core.sites import load_profiles

UNKNOWN = "?"


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "catalog",
        help="list the federation's machines and AI Factories",
        description="List the federation's GPU machines; '?' is a value no public source confirms, '~' an "
        "approximate one. GPUs are counted as the scheduler shows them (per GCD on LUMI).",
    )
    parser.add_argument("--json", action="store_true", help="print machines, factories and sources as JSON")
    parser.add_argument("--profiles", action="store_true",
                        help="the site profiles instead: queues and limits, GPU request, cores, billing, container "
                        "runtime, launcher, each value with its source ('?' not confirmed)")
    parser.set_defaults(func=run)


def run_profiles(args: argparse.Namespace) -> int:
    profiles = load_profiles()
    if args.json:
        data = {"collected": profiles.collected, "sources": dict(profiles.sources),
                "profiles": [p.to_dict() for p in profiles.profiles]}
        print(json.dumps(data, indent=2, ensure_ascii=False))
        return 0
    header = ["profile", "queues (partition/qos: max time, nodes)", "GPUs/node", "GPU request", "cores/GPU",
              "exclusive", "billing per node-hour", "container", "launcher"]
    rows = []
    for p in profiles.profiles:
        queues = ", ".join(
            f"{q.partition}{'/' + q.qos if q.qos else ''}: "
            f"{UNKNOWN if q.max_time_min is None else f'{q.max_time_min / 60:g} h'}, "
            f"{q.min_nodes or 1}-{q.max_nodes or UNKNOWN}"
            for q in p.queues
        ) or UNKNOWN
        billing = UNKNOWN if p.billing is None else f"{p.billing.per_node_hour:g} {p.billing.unit}"
        rows.append([p.key, queues, str(p.gpus_per_node), p.gpu_request or UNKNOWN,
                     UNKNOWN if p.cpus_per_gpu is None else str(p.cpus_per_gpu),
                     UNKNOWN if p.exclusive is None else ("yes" if p.exclusive else "no"), billing,
                     p.container_runtime or UNKNOWN, p.launcher or UNKNOWN])
    print(table(header, rows, right={2, 4}))
    print()
    print("Sources:")
    for key, text in profiles.sources.items():
        print(f"  {key}  {text}")
    return 0


def run(args: argparse.Namespace) -> int:
    if args.profiles:
        return run_profiles(args)
    try:
        catalog = load_catalog()
    except CoreError as exc:
        print(f"aifactory catalog: {exc.message}", file=sys.stderr)
        return 1
    if args.json:
        print(json.dumps(catalog.to_dict(), indent=2, ensure_ascii=False))
        return 0
    header = [
        "machine",
        "name",
        "partition",
        "site",
        "country",
        "GPU",
        "GB/GPU",
        "GPUs/node",
        "nodes",
        "GPUs",
        "BF16 TFLOP/s",
        "factory",
    ]
    rows = [_machine_row(m) for m in catalog.machines]
    print(table(header, rows, right={6, 7, 8, 9, 10}))
    print()
    print(f"{len(catalog.factories)} AI Factories:")
    rows = [
        [
            f.key,
            f.name,
            str(f.wave),
            f.country,
            show(f.host_machine),
            show(None if f.sectors is None else ", ".join(f.sectors)),
        ]
        for f in catalog.factories
    ]
    print(table(["factory", "name", "wave", "country", "machine", "sectors"], rows))
    print()
    print("? = not confirmed by a public source; ~ = approximate. Sources: aifactory catalog --json")
    return 0


def _machine_row(m: Machine) -> list[str]:
    def value(name: str, text: str | None) -> str:
        if text is None:
            return UNKNOWN
        return f"~{text}" if m.is_approximate(name) else text

    return [
        m.key,
        m.name,
        show(m.partition),
        m.site,
        m.country,
        show(m.gpu_model) if m.gpu_model is not None or m.gpus_per_node != 0 else "none",
        value("gpu_memory_gb", number(m.gpu_memory_gb)),
        value("gpus_per_node", number(m.gpus_per_node)),
        value("nodes", number(m.nodes)),
        value("total_gpus", number(m.total_gpus)),
        value("peak_bf16_tflops", number(m.peak_bf16_tflops)),
        show(m.factory),
    ]


def show(value: object) -> str:
    return UNKNOWN if value is None else str(value)


def number(value: float | int | None) -> str | None:
    """A number for a table: thousands separated, no needless decimals; None stays None."""
    if value is None:
        return None
    if float(value).is_integer():
        return f"{int(value):,}"
    return f"{value:,.1f}"


def table(header: Sequence[str], rows: Sequence[Sequence[str]], right: set[int] | None = None) -> str:
    """Plain text columns; the columns whose index is in `right` are right-aligned."""
    right = right or set()
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]

    def line(cells: Sequence[str]) -> str:
        return "  ".join(
            (c.rjust(w) if i in right else c.ljust(w)) for i, (c, w) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return "\n".join([line(header), line(["-" * w for w in widths]), *(line(r) for r in rows)])
