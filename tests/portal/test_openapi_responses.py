"""Every operation of the OpenAPI document under the checked path prefixes declares its answer: each success code
(2xx) has a schema for its content (a 204 has no content), and that schema names its fields: a bare object
(`dict[str, Any]`), or a list of them, says nothing about the answer and is refused. Nested free-form values inside
a described answer are allowed."""

from __future__ import annotations

from typing import Any

import pytest

from aifactory.portal.api import api as ninja_api

PREFIX = "/api/v1"

CHECKED = (
    # federation
    "/catalog", "/plan", "/sites", "/agent/heartbeat",
    # access
    "/modes", "/applications", "/stats",
    # organisations (with funding's and the teams' paths under /organisations)
    "/auth", "/me", "/roles", "/organisations", "/invitations",
    # siteaccess
    "/me/site-accounts", "/me/ssh-keys", "/me/ssh-certificates", "/ssh", "/agent/site-accounts",
    # obligations
    "/call-templates", "/licences", "/obligations", "/calls/{call_id}/obligations",
    # funding, monitoring
    "/funding", "/monitoring",
    # review
    "/calls", "/reviewers", "/reviews", "/conflicts",
    # matchmaking, support
    "/matchmaking", "/support",
    # jobs, allocations, runs (with the agent's side of each)
    "/jobs", "/allocations", "/notices", "/runs", "/agent/jobs", "/agent/revocations", "/agent/orders", "/agent/wait",
)
"""The path prefixes checked (after /api/v1): a path is checked when it is a prefix or lies under one."""


def checked(path: str, prefixes: tuple[str, ...]) -> bool:
    return any(path == PREFIX + p or path.startswith(PREFIX + p + "/") for p in prefixes)


def _resolve(schema: dict[str, Any], document: dict[str, Any]) -> dict[str, Any]:
    ref = schema.get("$ref")
    if ref is None:
        return schema
    node: Any = document
    for part in ref.removeprefix("#/").split("/"):
        node = node[part]
    return _resolve(node, document)


def _says_nothing(schema: dict[str, Any], document: dict[str, Any]) -> bool:
    """A schema that names no field of the answer: empty, or a bare object, or a list of such."""
    schema = _resolve(schema, document)
    if not schema:
        return True
    if schema.get("type") == "array":
        return _says_nothing(schema.get("items") or {}, document)
    if schema.get("type") == "object":
        return not schema.get("properties")
    return False


def undeclared(document: dict[str, Any], prefixes: tuple[str, ...]) -> list[str]:
    """The operations under the prefixes whose answer for a success code is not declared, with why."""
    missing = []
    for path, operations in document["paths"].items():
        if not checked(path, prefixes):
            continue
        for method, operation in operations.items():
            responses = {str(code): r for code, r in operation.get("responses", {}).items()}
            success = [code for code in responses if code.startswith("2")]
            name = f"{method.upper()} {path}"
            if not success:
                missing.append(f"{name}: no success code")
            for code in success:
                if code == "204":
                    continue
                content = responses[code].get("content") or {}
                if not content:
                    missing.append(f"{name} {code}: no content")
                for media, body in content.items():
                    if _says_nothing(body.get("schema") or {}, document):
                        missing.append(f"{name} {code} {media}: no schema of its fields")
    return missing


@pytest.fixture(scope="module")
def document() -> dict[str, Any]:
    return ninja_api.get_openapi_schema()


def test_every_checked_operation_declares_its_answer(document):
    assert undeclared(document, CHECKED) == []


def test_every_path_is_under_a_checked_prefix(document):
    """The prefixes cover the whole document: a new path outside them is listed here before it ships."""
    assert [path for path in document["paths"] if not checked(path, CHECKED)] == []


def test_every_checked_prefix_has_operations(document):
    """A prefix that matches nothing (a typo, a moved path) would check nothing."""
    empty = [p for p in CHECKED if not any(checked(path, (p,)) for path in document["paths"])]
    assert empty == []


def test_an_answer_without_a_schema_is_found():
    document = {
        "paths": {
            "/api/v1/a": {"get": {"responses": {200: {"description": "OK"}}}},
            "/api/v1/a/{x}": {"post": {"responses": {201: {"content": {"application/json": {"schema": {
                "type": "object", "additionalProperties": True}}}}}}},
            "/api/v1/a/list": {"get": {"responses": {"200": {"content": {"application/json": {"schema": {
                "type": "array", "items": {"$ref": "#/components/schemas/Bare"}}}}}}}},
            "/api/v1/a/ok": {"get": {"responses": {"200": {"content": {"application/json": {"schema": {
                "$ref": "#/components/schemas/Named"}}}}}}},
            "/api/v1/a/gone": {"delete": {"responses": {204: {"description": "No Content"}}}},
            "/api/v1/a/refused": {"get": {"responses": {404: {"description": "Not found"}}}},
            "/api/v1/b": {"get": {"responses": {200: {"description": "OK"}}}},
        },
        "components": {"schemas": {"Bare": {"type": "object"},
                                   "Named": {"type": "object", "properties": {"x": {"type": "integer"}}}}},
    }
    assert undeclared(document, ("/a",)) == [
        "GET /api/v1/a 200: no content",
        "POST /api/v1/a/{x} 201 application/json: no schema of its fields",
        "GET /api/v1/a/list 200 application/json: no schema of its fields",
        "GET /api/v1/a/refused: no success code",
    ]
