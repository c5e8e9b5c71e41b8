"""`aifactory bench ...`: benchmarks that print their figures."""

from __future__ import annotations

import argparse
import importlib
from typing import Any

BENCHES = ("bench_selection", "bench_broker", "bench_compile", "bench_submit", "bench_matchmaking", "bench_screening",
           "bench_spec")


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("bench", help="run a benchmark and print its figures")
    bench_sub = parser.add_subparsers(dest="bench", required=True)
    for name in BENCHES:
        importlib.import_module(f"aifactory.cli.{name}").register(bench_sub)
