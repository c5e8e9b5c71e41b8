"""The base of the API's input schemas."""

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


def _strip_nul(value: Any) -> Any:
    return value.replace("\x00", "") if isinstance(value, str) else value


class In(Schema):
    """Input from outside. Text holding a NUL character is refused (PostgreSQL cannot store it), except in the
    fields named in `nul_stripped`, where it is dropped (a job's output may hold any byte)."""

    nul_stripped: ClassVar[frozenset[str]] = frozenset()

    @field_validator("*", mode="before")
    @classmethod
    def _no_nul(cls, value: Any, info: ValidationInfo) -> Any:
        if info.field_name in cls.nul_stripped:
            return _strip_nul(value)
        if _has_nul(value):
            raise ValueError("must not contain NUL characters")
        return value
