"""`aifactory bench spec`: how long the job spec reader takes to refuse (or read) the worst documents it can be sent,
each at the size cap: deep nesting, numbers of thousands of digits, lone surrogates, long texts, many values."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from aifactory.core.exceptions import InvalidInput
from aifactory.core.jobspec import MAX_SPEC_BYTES, parse_spec

HEAD = "name: x\nresources: {time_limit: 60}\n"


def documents() -> dict[str, str]:
    room = MAX_SPEC_BYTES - 200
    return {
        "yaml, '[' nested to the cap": HEAD + "commands: " + "[" * room,
        "yaml, '{a: ' nested to the cap": HEAD + "commands: " + "{a: " * (room // 4),
        "yaml, block lists nested": HEAD + "commands:\n" + "".join(" " * i + "- \n" for i in range(700)),
        "yaml, a number of 5,000 digits": HEAD.replace("60", "9" * 5000) + "commands: [a]",
        "yaml, a duration of 5,000 digits": HEAD.replace("60", "'" + "9" * 5000 + "h'") + "commands: [a]",
        "yaml, 60,000 list items": HEAD + "commands:\n" + "- a\n" * (room // 4),
        "yaml, one text to the cap": HEAD + 'commands: ["' + "a" * room + '"]',
        "yaml, blank lines to the cap": HEAD + "commands: [a]\n" + "\n" * room,
        "json, '[' nested to the cap": '{"commands": ' + "[" * room,
        "json, a number of 5,000 digits": '{"name": "x", "resources": {"time_limit": ' + "9" * 5000
        + '}, "commands": ["a"]}',
        "json, a lone surrogate": '{"name": "x", "resources": {"time_limit": 60}, "commands": ["\\ud800"]}',
        "json, 60,000 list items": '{"commands": [' + ", ".join(['"a"'] * (room // 5)) + "]}",
        "json, one text to the cap": json.dumps({"name": "x", "resources": {"time_limit": 60},
                                                 "commands": ["a" * room]}),
    }


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser("spec", help="time the job spec reader on hostile documents")
    parser.add_argument("--repeat", type=int, default=5, help="runs of each document; the slowest is shown")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    parser.set_defaults(func=run)


def _slowest(read: Callable[[], object], repeat: int) -> tuple[float, str]:
    worst, outcome = 0.0, ""
    for _ in range(repeat):
        started = time.perf_counter()
        try:
            read()
            outcome = "read"
        except InvalidInput as exc:
            outcome = f"refused: {exc.message[:70]}"
        worst = max(worst, time.perf_counter() - started)
    return worst, outcome


def run(args: argparse.Namespace) -> int:
    if args.repeat < 1:
        print("aifactory bench spec: --repeat must be at least 1", file=sys.stderr)
        return 2
    rows = []
    for name, text in documents().items():
        seconds, outcome = _slowest(lambda text=text: parse_spec(text), args.repeat)  # type: ignore[misc]
        rows.append({"document": name, "bytes": len(text.encode("utf-8", "surrogatepass")), "ms": seconds * 1000,
                     "outcome": outcome})
    if args.json:
        print(json.dumps({"rows": rows, "slowest_ms": max(r["ms"] for r in rows)}))
        return 0
    for r in rows:
        print(f"{r['document']:36} {r['bytes'] / 1024:6.0f} KiB {r['ms']:8.2f} ms  {r['outcome']}")
    print(f"slowest: {max(r['ms'] for r in rows):.2f} ms")
    return 0
