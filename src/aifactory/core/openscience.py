"""Open-science obligations of a call's winners: a release's licence against the call's rule, a publication's id.

A release names its licence as an SPDX expression. The expression is parsed and validated with license-expression
(the SPDX licence list and the ScanCode licence database it ships, which sorts each licence into a category);
an unknown licence or a malformed expression is refused, naming the symbol. A call's rule (LicenceRule) accepts a
licence when its category is one of the rule's categories or its SPDX id is one of the rule's own list; an
expression is accepted when every licence joined by AND is, and at least one side of each OR is (the licensee
chooses); `WITH` an exception is judged by its licence. The answer says which licence decided, and why.

A publication gives a DOI (10.<registrant>/<suffix>, as Crossref recommends it, also as https://doi.org/...) or an
arXiv id (2401.01234, 2401.01234v2, or the old style hep-th/9901001), checked for form only.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from license_expression import (
    AND,
    OR,
    ExpressionError,
    LicenseSymbol,
    LicenseWithExceptionSymbol,
    get_license_index,
    get_spdx_licensing,
)

from aifactory.core.exceptions import InvalidInput

MAX_EXPRESSION = 500
OPEN_SOURCE = ("Permissive", "Public Domain", "Copyleft", "Copyleft Limited")


@dataclass(frozen=True)
class LicenceRule:
    key: str
    text: str  # the rule as the call states it
    release_required: bool  # a publication alone does not meet the obligation
    categories: tuple[str, ...]  # ScanCode categories accepted; empty with any_known: every known licence
    also: tuple[str, ...] = ()  # SPDX ids accepted beyond the categories
    any_known: bool = False


@dataclass(frozen=True)
class LicenceCheck:
    expression: str  # normalised
    accepted: bool
    reasons: tuple[str, ...]


@cache
def _licensing() -> Any:
    return get_spdx_licensing()


@cache
def _categories() -> Mapping[str, str]:
    out: dict[str, str] = {}
    for row in get_license_index():
        category = str(row.get("category") or "")
        for key in [row.get("spdx_license_key"), *(row.get("other_spdx_license_keys") or [])]:
            if key:
                out.setdefault(str(key).lower(), category)
    return out


def parse(expression: str) -> Any:
    """The parsed expression, or InvalidInput naming what is wrong."""
    if not isinstance(expression, str) or not expression.strip():
        raise InvalidInput("licence", "give the licence as an SPDX expression, e.g. Apache-2.0 or CC-BY-NC-4.0")
    if len(expression) > MAX_EXPRESSION:
        raise InvalidInput("licence", f"at most {MAX_EXPRESSION} characters")
    licensing = _licensing()
    try:
        info = licensing.validate(expression, strict=True)
        if info.errors:
            raise InvalidInput("licence", "; ".join(str(e) for e in info.errors))
        return licensing.parse(expression, validate=True, strict=True)
    except InvalidInput:
        raise
    except (ExpressionError, AttributeError, TypeError, ValueError) as exc:
        # Some malformed expressions ("MIT AND") make the library fail while it describes the error.
        raise InvalidInput("licence", f"{expression!r} is not a valid SPDX expression") from exc


def _judge(node: Any, rule: LicenceRule) -> tuple[bool, list[str]]:
    if isinstance(node, LicenseWithExceptionSymbol):
        return _judge(node.license_symbol, rule)
    if isinstance(node, LicenseSymbol):
        key = str(node.key)
        category = _categories().get(key.lower())
        if category is None:
            return False, [f"{key} is not in the licence database"]
        if rule.any_known:
            return True, [f"{key} is a known licence ({category})"]
        if key.lower() in {a.lower() for a in rule.also}:
            return True, [f"{key} is accepted by the call's rule ({rule.text})"]
        if category in rule.categories:
            return True, [f"{key} is {category.lower()}, which the call accepts"]
        return False, [f"{key} is {category.lower()}, which the call's rule does not accept ({rule.text})"]
    parts = [_judge(arg, rule) for arg in node.args]
    if isinstance(node, AND):
        ok = all(p[0] for p in parts)
        return ok, [r for p in parts for r in p[1] if ok or not p[0]]
    if isinstance(node, OR):
        ok = any(p[0] for p in parts)
        return ok, [r for p in parts for r in p[1] if p[0] == ok]
    raise InvalidInput("licence", f"unexpected part {node!r}")


def check_licence(expression: str, rule: LicenceRule) -> LicenceCheck:
    """Whether the licence expression meets the call's rule, and the licences that decided."""
    parsed = parse(expression)
    ok, reasons = _judge(parsed, rule)
    return LicenceCheck(str(parsed), ok, tuple(reasons))


_DOI = re.compile(r"^10\.\d{4,9}/[-._;()/:A-Za-z0-9<>]+$")
_ARXIV_NEW = re.compile(r"^\d{4}\.\d{4,5}(v\d+)?$")
_ARXIV_OLD = re.compile(r"^[a-z][a-z-]*(\.[A-Z]{2})?/\d{7}(v\d+)?$")


@dataclass(frozen=True)
class PublicationId:
    kind: str  # doi or arxiv
    value: str  # normalised
    url: str


def check_publication(identifier: str) -> PublicationId:
    """A DOI or an arXiv id, normalised, or InvalidInput saying which form was expected."""
    if not isinstance(identifier, str) or not identifier.strip():
        raise InvalidInput("identifier", "give a DOI (10.xxxx/...) or an arXiv id (2401.01234)")
    text = identifier.strip()
    if len(text) > 300:
        raise InvalidInput("identifier", "at most 300 characters")
    lowered = text.lower()
    for prefix in ("https://doi.org/", "http://doi.org/", "https://dx.doi.org/", "doi:"):
        if lowered.startswith(prefix):
            text = text[len(prefix):]
            break
    for prefix in ("https://arxiv.org/abs/", "http://arxiv.org/abs/", "arxiv:"):
        if lowered.startswith(prefix):
            text = text[len(prefix):]
            break
    if _DOI.match(text):
        return PublicationId("doi", text, f"https://doi.org/{text}")
    if _ARXIV_NEW.match(text) or _ARXIV_OLD.match(text):
        month = text[2:4] if _ARXIV_NEW.match(text) else "01"
        if not 1 <= int(month) <= 12:
            raise InvalidInput("identifier", f"{text!r}: an arXiv id starts with YYMM")
        return PublicationId("arxiv", text, f"https://arxiv.org/abs/{text}")
    raise InvalidInput("identifier", f"{identifier.strip()!r} is neither a DOI (10.xxxx/...) nor an arXiv id "
                                     "(2401.01234 or hep-th/9901001)")
