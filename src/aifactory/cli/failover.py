"""`aifactory failover`: move jobs waiting on sites whose agent stopped reporting (`aifactory run` runs it)."""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "failover", help="move jobs waiting on sites whose agent stopped reporting (operators)",
        description="Move every job that waits (pending, or submitted but not running) on a site whose agent has "
                    "not reported for AIFACTORY_AGENT_STALE_AFTER_S to a site that can take it; the site it left "
                    "is told to cancel its copy. Runs against the portal's database.")
    p.add_argument("--data-dir", type=Path, default=Path(os.environ.get("AIFACTORY_DATA_DIR", "var")),
                   help="the portal's data folder (SQLite database), unless DATABASE_URL is set")
    p.add_argument("--every", type=float, default=0.0, help="repeat every this many seconds (default: once)")
    p.add_argument("--json", action="store_true", help="print each pass as a JSON line")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from aifactory.portal.bootstrap import setup_django

    setup_django(args.data_dir.resolve())
    from aifactory.portal.jobs.failover import FailoverResult, describe, failover_run

    def report(result: FailoverResult) -> None:
        if args.json:
            print(json.dumps({"moved": [m.__dict__ for m in result.moved], "cancelled": result.cancelled,
                              "stuck": result.stuck}), flush=True)
        else:
            for line in describe(result):
                print(line, flush=True)

    logging.basicConfig(level=logging.INFO, format="%(asctime)s failover %(levelname)s %(message)s")
    stopping: list[int] = []
    signal.signal(signal.SIGTERM, lambda *_: stopping.append(1))
    failover_run(every=args.every, report=report, stopping=lambda: bool(stopping))
    return 0
