"""Exceptions of the core. Each carries the data that explains it; the portal turns them into 4xx answers.

    CoreError
     +-- InvalidInput            a value from outside is malformed (field, message)
     |    +-- CatalogError       a record of the catalog file is malformed (record, field)     core.catalog
     +-- InvalidTransition       a state machine refused a move (entity, current, target)
     +-- Ineligible              the eligibility and ethics gate refused (reasons)
     +-- NoPlacement             no machine can take a job (reasons per machine)
     +-- TraceError              a trace file has a malformed line (path, line, field)
     +-- SolverError             a solver gave no usable answer (status, message)
          +-- InfeasibleAssignment  reviewers cannot be assigned free of conflict (proposals)   core.review

The portal's one translation into HTTP answers is aifactory.portal.common.errors.refusal_of.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence


class CoreError(Exception):
    """Root of the core's exceptions."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class InvalidInput(CoreError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field


class InvalidTransition(CoreError):
    def __init__(self, entity: str, current: str, target: str) -> None:
        super().__init__(f"{entity} cannot move from {current!r} to {target!r}")
        self.entity = entity
        self.current = current
        self.target = target


class Ineligible(CoreError):
    def __init__(self, reasons: Sequence[str]) -> None:
        super().__init__("; ".join(reasons) or "ineligible")
        self.reasons = tuple(reasons)


class NoPlacement(CoreError):
    def __init__(self, reasons: Mapping[str, str]) -> None:
        detail = "; ".join(f"{machine}: {why}" for machine, why in reasons.items())
        super().__init__(f"no machine can take this job ({detail})" if detail else "no machine can take this job")
        self.reasons = dict(reasons)


class TraceError(CoreError):
    def __init__(self, path: str, line: int, field: str, message: str) -> None:
        super().__init__(f"{path}:{line}: field {field!r}: {message}")
        self.path = path
        self.line = line
        self.field = field


class SolverError(CoreError):
    def __init__(self, status: str, message: str) -> None:
        super().__init__(f"solver {status}: {message}")
        self.status = status
