"""`aifactory bench compile`: compile the simulator's hot modules with mypyc, so that `bench broker` runs them as C.

The build is named by a hash of the sources it was made from and is used only while they are unchanged
(aifactory.core.sim.native). It needs mypy (the `bench` extra), a C compiler and Python's headers.
"""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from aifactory.core.exceptions import CoreError

PROG = "aifactory bench compile"


def register(sub: Any) -> None:
    parser: argparse.ArgumentParser = sub.add_parser(
        "compile", help="compile the simulator with mypyc for `bench broker`", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--force", action="store_true", help="build again even if a build of these sources exists")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from aifactory.core.sim import native

    started = time.perf_counter()
    try:
        folder = native.compile_modules(force=args.force)
    except CoreError as exc:
        print(f"{PROG}: {exc.message}", file=sys.stderr)
        return 2
    print(f"compiled {', '.join(native.COMPILED)} into {folder} in {time.perf_counter() - started:.0f} s")
    return 0
