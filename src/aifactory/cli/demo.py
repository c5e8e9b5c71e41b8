"""`aifactory demo`: the first-run journey through the API, each step with its duration."""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import nullcontext
from typing import Any

from aifactory.demo import DemoFailed, Step, journey, local_federation
from aifactory.sdk import Client


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("demo", help="run the journey from sign-up to a charged job")
    p.add_argument("--url", help="a running portal (default: start a throw-away one with a local agent)")
    p.add_argument("--machine", default="leonardo", help="machine to apply for")
    p.add_argument("--timeout", type=float, default=120.0, help="seconds to wait for each step")
    p.add_argument("--json", action="store_true", help="print the steps as JSON")
    p.set_defaults(func=run)


def _print(steps: list[Step], *, as_json: bool, error: str | None) -> None:
    if as_json:
        body = {"ok": error is None, "error": error, "steps": [s.to_dict() for s in steps]}
        print(json.dumps(body, indent=2), flush=True)
        return
    for s in steps:
        print(f"{s.at_s:8.2f} s  (+{s.seconds:6.2f} s)  {s.step}")
    if error:
        print(f"failed: {error}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    context = nullcontext(args.url) if args.url else local_federation(machine=args.machine)
    with context as url:
        client = Client(url)
        try:
            steps = journey(client, machine=args.machine, timeout_s=args.timeout)
        except DemoFailed as exc:
            _print(exc.steps, as_json=args.json, error=str(exc))
            return 1
        finally:
            client.close()
    _print(steps, as_json=args.json, error=None)
    return 0
