"""An answer with an explicit status code, in the form the installed django-ninja expects."""

from __future__ import annotations

from typing import Any

try:
    from ninja import Status
except ImportError:  # django-ninja before 1.6 takes a (status, body) tuple
    Status = None


def answer(status: int, body: Any) -> Any:
    return Status(status, body) if Status is not None else (status, body)
