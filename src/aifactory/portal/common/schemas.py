"""The base of the API's input schemas, and the types answers share."""

from __future__ import annotations

from typing import Any, ClassVar

from ninja import Schema
from pydantic import ValidationInfo, field_validator


def _has_nul(value: Any) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list | tuple):
        return any(_has_nul(v) for v in value)
    return False


INT_MIN, INT_MAX = -(2**63), 2**63 - 1
"""The range of the databases' integer columns: a whole number outside it is refused in every input field."""


def _out_of_range(value: Any) -> bool:
    if isinstance(value, int) and not isinstance(value, bool):
        return not INT_MIN <= value <= INT_MAX
    if isinstance(value, dict):
        return any(_out_of_range(v) for v in value.values())
    if isinstance(value, list | tuple):
        return any(_out_of_range(v) for v in value)
    return False


def _strip_nul(value: Any) -> Any:
    return value.replace("\x00", "") if isinstance(value, str) else value


class In(Schema):
    """Input from outside. Text holding a NUL character is refused (PostgreSQL cannot store it), except in the
    fields named in `nul_stripped`, where it is dropped (a job's output may hold any byte). A whole number outside
    the databases' 64-bit range is refused in every field, whatever its own bounds (an id past 2^63 would otherwise
    reach a query)."""

    nul_stripped: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name in cls.nul_stripped:
            return _strip_nul(value)
        if _has_nul(value):
            raise ValueError("must not contain NUL characters")
        return value

    @field_validator("*", mode="after")
    @classmethod
    def _in_range(cls, value: Any) -> Any:
        if _out_of_range(value):
            raise ValueError(f"must be a whole number between {INT_MIN} and {INT_MAX}")
        return value


Figure = int | float
"""A figure in an answer, kept as its source wrote it: a whole number stays one (a `float` field would print 0 as
0.0), a fraction stays a fraction."""
