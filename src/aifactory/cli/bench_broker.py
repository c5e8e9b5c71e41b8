"""`aifactory bench broker`."""

from __future__ import annotations

from typing import Any


def register(sub: Any) -> None:
    parser = sub.add_parser("broker", help="(not built yet)")
    parser.set_defaults(func=lambda args: print("not built yet") or 2)
