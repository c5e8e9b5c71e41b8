"""`aifactory challenge demo`: a Large AI Grand Challenge round through the API, each step with its duration."""

from __future__ import annotations

import argparse
import json
import sys
from contextlib import nullcontext
from typing import Any

from aifactory.challenge import challenge_federation, play
from aifactory.demo import DemoFailed, Step
from aifactory.sdk import Client


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser("challenge", help="run a Grand Challenge round end to end")
    inner = p.add_subparsers(dest="challenge_command", required=True)
    demo = inner.add_parser("demo", help="open a call, take proposals, assign reviewers, score, select, allocate")
    demo.add_argument("--url", help="a running portal (default: start a throw-away one with local agents)")
    demo.add_argument("--admin-token", help="a staff token of the running portal (with --url)")
    demo.add_argument("--proposals", type=int, default=10, help="proposals in the round (default 10)")
    demo.add_argument("--reviewers", type=int, default=5, help="reviewers in the pool (default 5)")
    demo.add_argument("--seed", type=int, default=11, help="seed of the round's figures (default 11)")
    demo.add_argument("--timeout", type=float, default=60.0, help="seconds to wait for provisioning")
    demo.add_argument("--json", action="store_true", help="print the steps as JSON")
    demo.set_defaults(func=run)


def _print(steps: list[Step], summary: dict[str, Any] | None, *, as_json: bool, error: str | None) -> None:
    if as_json:
        body = {"ok": error is None, "error": error, "summary": summary, "steps": [s.to_dict() for s in steps]}
        print(json.dumps(body, indent=2, default=str), flush=True)
        return
    for s in steps:
        print(f"{s.at_s:8.2f} s  (+{s.seconds:6.2f} s)  {s.step}")
    if summary:
        opt, greedy = summary["optimum"], summary["greedy"]
        print(f"optimum: {opt['value']:.4f} with {opt['winners']} winners ({opt['status']}"
              f"{', proven optimal' if opt['proven_optimal'] else ''}, {opt['seconds']:.3f} s)")
        print(f"greedy:  {greedy['value']:.4f} with {greedy['winners']} winners")
        print(f"{summary['allocations']} allocations created with their provisioning orders")
    if error:
        print(f"failed: {error}", file=sys.stderr)


def run(args: argparse.Namespace) -> int:
    if args.proposals < 1 or args.reviewers < 2:
        print("at least 1 proposal and 2 reviewers", file=sys.stderr)
        return 2
    if args.url and not args.admin_token:
        print("--url needs --admin-token (a staff token: it grants the call manager's role)", file=sys.stderr)
        return 2
    context = nullcontext((args.url, args.admin_token)) if args.url else challenge_federation()
    with context as (url, token):
        clients: list[Client] = []

        def new_client() -> Client:
            client = Client(url)
            clients.append(client)
            return client

        admin = Client(url, token)
        try:
            steps, summary = play(admin, new_client, proposals=args.proposals, reviewers=args.reviewers,
                                  seed=args.seed, timeout_s=args.timeout)
        except DemoFailed as exc:
            _print(exc.steps, None, as_json=args.json, error=str(exc))
            return 1
        finally:
            admin.close()
            for client in clients:
                client.close()
    _print(steps, summary, as_json=args.json, error=None)
    return 0
