"""`aifactory failover`: one failover pass by hand (the task runner's workers run it every FAILOVER_EVERY_S)."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path
from typing import Any


def register(sub: Any) -> None:
    p: argparse.ArgumentParser = sub.add_parser(
        "failover", help="move jobs waiting on sites whose agent stopped reporting, once (operators)",
        description="Move every job that waits (pending, or submitted but not running) on a site whose agent has "
                    "not reported for AIFACTORY_AGENT_STALE_AFTER_S to a site that can take it; the site it left "
                    "is told to cancel its copy; then advance managed runs (their next segments). One pass against "
                    "the portal's database: the task runner's workers (`aifactory run`, `django-admin "
                    "tasks_worker`) run both every AIFACTORY_FAILOVER_EVERY_S.")
    p.add_argument("--data-dir", type=Path, default=Path(os.environ.get("AIFACTORY_DATA_DIR", "var")),
                   help="the portal's data folder (SQLite database), unless DATABASE_URL is set")
    p.add_argument("--json", action="store_true", help="print the pass as a JSON line")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from aifactory.portal.bootstrap import setup_django

    setup_django(args.data_dir.resolve())
    from aifactory.portal.jobs.failover import describe, jobs_failover, result_out
    from aifactory.portal.runs.services import runs_advance

    result = jobs_failover()
    advanced = runs_advance()
    if args.json:
        print(json.dumps({**result_out(result), "runs": advanced}), flush=True)
    else:
        for line in describe(result) + advanced:
            print(line, flush=True)
    return 0
