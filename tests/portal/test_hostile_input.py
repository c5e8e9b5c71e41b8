"""Hostile input, swept over every API operation and every page: whatever is sent, the answer is never a 500.

The API sweep reads the OpenAPI document, so that a new endpoint is swept from its first line: each path parameter
gets values past 2^63, negative, non-numeric and huge; each query parameter likewise; each body gets broken JSON,
documents nested and sized past the bounds, numbers of thousands of digits, lone surrogates, and every field of its
schema a hostile value of every kind. The page sweep does the same over every URL pattern, for GET and POST forms.
The callers are an applicant who holds an allocation (so that the job paths are reached), staff, and a site agent.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from aifactory.cli.bench_spec import documents
from aifactory.portal.api import api as ninja_api
from aifactory.portal.organisations.services import api_token_create, role_grant
from aifactory.portal.review.services import CriterionSpec, call_open
from tests.conftest import JobFactory

pytestmark = pytest.mark.django_db

HUGE = "9" * 5000
NUMBERS = [2**63, 2**64, -(2**63) - 1, 10**40, -1, 0]
TEXT_VALUES = [HUGE, str(2**64), "-1", "0", "x", "", "\ufffd", "a" * 100_000, "'; DROP TABLE x; --", "%00", "../../etc"]
JSON_VALUES: list[Any] = [
    2**63, -(2**63) - 1, -1, 1e308, True, None, "", "x" * 70_000, "\ud800", "\x00", [], {"a": [{"b": {}}]}, HUGE,
]
BODIES: list[str | bytes] = [
    b"", b"\xff\xfe", "not json", "[]", "null", "1", '"x"', "{" * 10_000, "[" * 100_000,
    '{"a": ' + "9" * 5000 + "}", '{"a": "\\ud800"}', '{"\\udc00": 1}', '{"a": NaN}', '{"a": Infinity}',
    '{"a": 1e999}', json.dumps({"a": list(range(20_000))}), '{"a": "' + "x" * 3_000_000 + '"}',
]


def _resolve(schema: dict[str, Any], node: Any) -> Any:
    while isinstance(node, dict) and "$ref" in node:
        node = schema["components"]["schemas"][node["$ref"].rsplit("/", 1)[-1]]
    return node


def _operations() -> Iterator[tuple[str, str, list[dict[str, Any]], list[str]]]:
    schema = ninja_api.get_openapi_schema()
    for path, ops in schema["paths"].items():
        for method, op in ops.items():
            params = list(op.get("parameters", []))
            fields: list[str] = []
            if "requestBody" in op:
                content = op["requestBody"]["content"]
                body = _resolve(schema, next(iter(content.values()))["schema"])
                fields = list(body.get("properties", {}))
            yield method.upper(), path, params, fields


def _fill(path: str, value: Any) -> str:
    out = path
    while "{" in out:
        start, end = out.index("{"), out.index("}")
        out = out[:start] + str(value) + out[end + 1:]
    return out


def _requests() -> Iterator[tuple[str, str, dict[str, Any], str | bytes | None]]:
    """(method, path, query, body) for every operation and every hostile value."""
    for method, path, params, fields in _operations():
        in_path = [p for p in params if p["in"] == "path"]
        queries = [p["name"] for p in params if p["in"] == "query"]
        sane = _fill(path, 1)
        for value in [*NUMBERS, *TEXT_VALUES[:6]] if in_path else []:
            yield method, _fill(path, value), {}, "{}" if method == "POST" else None
        for name in queries:
            for value in [*NUMBERS, *TEXT_VALUES]:
                yield method, sane, {name: value}, None
        if method == "POST":
            for body in BODIES:
                yield method, sane, {}, body
            if "spec" in fields:  # the job spec's own hostile documents, as text and (when JSON) as an object
                for text in documents().values():
                    yield method, sane, {}, json.dumps({"spec": text})
                    yield method, sane, {}, '{"spec": ' + text + "}" if text.startswith("{") else "{}"
            for name in fields:
                for value in JSON_VALUES:
                    yield method, sane, {}, json.dumps({name: value}, allow_nan=True)


def _send(client: Client, headers: dict[str, str], method: str, path: str, query: dict[str, Any],
          body: str | bytes | None) -> Any:
    if method == "GET":
        return client.get(path, query, headers=headers)
    return client.generic(method, path, data=body or b"", content_type="application/json", headers=headers)


@pytest.fixture
def callers(allocation, user, site) -> dict[str, dict[str, str]]:
    """The applicant (holding an allocation, with a job), staff, and the site's agent."""
    JobFactory(allocation=allocation, submitted_by=user)
    staff = get_user_model().objects.create_user("staff-hostile", "s@example.org", "x" * 12, is_staff=True)
    return {
        "applicant": {"Authorization": f"Bearer {api_token_create(user=user)}"},
        "staff": {"Authorization": f"Bearer {api_token_create(user=staff)}"},
        "agent": {"Authorization": f"Bearer {site.token}"},
    }


def test_no_api_operation_answers_500_to_hostile_input(callers):
    client = Client(raise_request_exception=False)
    failures: list[str] = []
    sent = 0
    for method, path, query, body in _requests():
        who = "agent" if "/agent/" in path else "applicant"
        for caller in (who, "staff") if who == "applicant" and method == "POST" and '{"' not in str(body) else (who,):
            response = _send(client, callers[caller], method, path, query, body)
            sent += 1
            if response.status_code >= 500:
                shown = (body[:80] if body is not None else "") + str(query)[:80]
                failures.append(f"{caller} {method} {path[:100]} {shown!r} -> {response.status_code}")
    assert sent > 2000
    assert not failures, "\n".join(failures[:40])


# --- pages ----------------------------------------------------------------------------------------------------------

def _patterns(resolver: URLResolver, prefix: str = "") -> Iterator[str]:
    for entry in resolver.url_patterns:
        route = prefix + str(entry.pattern)
        if isinstance(entry, URLResolver):
            if route.startswith(("api/", "admin/")):
                continue
            yield from _patterns(entry, route)
        elif isinstance(entry, URLPattern):
            yield route


def _page_paths(words: list[str], ids: list[int]) -> Iterator[str]:
    """Every page's path with each hostile id, and the known `words` (a job's uid, a call's actions ...) for text."""
    for route in _patterns(get_resolver()):
        route = route.lstrip("^").rstrip("$")
        if "(?P" in route:
            continue
        converters = re.findall(r"<(?:(\w+):)?(\w+)>", route)
        if not converters:
            yield "/" + route
            continue
        for number in [2**63, 2**64, 10**40, 0, *ids]:
            for word in ["x" * 300, *words]:
                path = route
                for conv, name in converters:
                    filled = number if conv == "int" else word
                    path = re.sub(rf"<(?:{conv}:)?{name}>", str(filled), path, count=1)
                yield "/" + path


FORM_VALUES = [HUGE, "-1", "1e400", "x" * 70_000, "\ufffd 2026-13-45"]


def test_no_page_answers_500_to_hostile_input(allocation, user, site):
    job = JobFactory(allocation=allocation, submitted_by=user)
    client = Client(raise_request_exception=False)
    client.force_login(user)
    staff = get_user_model().objects.create_user("staff-pages", "p@example.org", "x" * 12, is_staff=True)
    for role in ("call_manager", "factory_operator", "observer"):
        role_grant(user=staff, role=role, granted_by=None, factory="it4lia" if role == "factory_operator" else "")
    call = call_open(user=staff, title="Grand Challenge", mode="grand_challenge",
                     deadline=timezone.now() + timedelta(days=1), decision_by=timezone.localdate() + timedelta(days=30),
                     criteria=[CriterionSpec("quality", 1.0)], budgets={"leonardo": 10_000})
    staff_client = Client(raise_request_exception=False)
    staff_client.force_login(staff)
    words = [job.uid, "close", "assign", "select", "accept", "applications", "allocations", "jobs"]
    names = ["organisation", "allocation", "name", "script", "gpus", "time_limit_s", "env", "spec", "title",
             "mode", "machine", "params", "tokens", "gpu", "requested_gpu_hours", "months", "reason", "country",
             "headcount", "turnover_eur", "balance_sheet_eur", "deadline", "budgets", "criteria", "application",
             "approve", "username", "max_load", "keywords", "pledges", "call", "lines", "hours", "state", "q"]
    failures: list[str] = []
    sent = 0
    ids = sorted({call.pk, allocation.pk, allocation.organisation_id, job.pk})
    paths = sorted(set(_page_paths(words, ids)) - {"/logout/"})
    assert f"/calls/{call.pk}/close/" in paths
    for path in paths:
        for who, c in (("applicant", client), ("staff", staff_client)):
            for query in ({}, {name: HUGE for name in ("page", "mode", "state", "org", "organisation", "q")}):
                response = c.get(path, query)
                sent += 1
                if response.status_code >= 500:
                    failures.append(f"{who} GET {path[:100]} {query!s:.80} -> {response.status_code}")
            for value in FORM_VALUES:
                response = c.post(path, {name: value for name in names})
                sent += 1
                if response.status_code >= 500:
                    failures.append(f"{who} POST {path[:100]} {value[:40]!r} -> {response.status_code}")
    assert sent > 500
    assert not failures, "\n".join(failures[:40])
