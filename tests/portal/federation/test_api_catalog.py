"""The open endpoints: catalog, planner, and the OpenAPI document."""

from __future__ import annotations

import json

import pytest
from django.core.serializers.json import DjangoJSONEncoder

from aifactory.core.catalog import load_catalog
from aifactory.core.planner import plan_training
from tests.conftest import assert_refused

pytestmark = pytest.mark.django_db

BUILT_PATHS = [
    "/api/v1/catalog",
    "/api/v1/plan",
    "/api/v1/auth/signup",
    "/api/v1/auth/token",
    "/api/v1/organisations",
    "/api/v1/organisations/{org_id}",
    "/api/v1/organisations/{org_id}/pledges",
    "/api/v1/applications",
    "/api/v1/applications/{app_id}",
    "/api/v1/allocations",
    "/api/v1/allocations/{allocation_id}",
    "/api/v1/jobs",
    "/api/v1/jobs/{uid}",
    "/api/v1/jobs/{uid}/cancel",
    "/api/v1/jobs/{uid}/logs",
    "/api/v1/agent/heartbeat",
    "/api/v1/agent/orders",
    "/api/v1/agent/orders/{order_id}",
    "/api/v1/agent/jobs",
    "/api/v1/agent/jobs/{uid}",
]


def test_catalog_lists_machines_and_factories(anon):
    response = anon.get("/catalog")
    assert response.status_code == 200
    body = response.json()
    keys = {m["key"] for m in body["machines"]}
    assert {"leonardo", "lumi", "jupiter"} <= keys
    assert body["factories"]


def test_plan_estimates_each_machine(anon):
    response = anon.get("/plan", params="7e9", tokens="2e12", gpus="64")
    assert response.status_code == 200
    body = response.json()
    assert body["gpus"] == 64
    assert body["flops"] == pytest.approx(6 * 7e9 * 2e12, rel=0.01)
    assert {e["machine"] for e in body["estimates"]} >= {"leonardo", "lumi"}


@pytest.mark.parametrize("query", [
    {"params": "7e9", "tokens": "2e12", "gpus": "64"},
    {"params": "4e11", "tokens": "1e13", "gpus": "4096", "mfu": "0.5", "gpu": "H100"},
    {"params": "1e12", "tokens": "3e13", "gpus": "2"},  # does not fit: no sharding, reasons
])
def test_the_plan_and_the_catalog_are_answered_as_the_core_computes_them(anon, query):
    """The answers' schemas describe the values without changing them: byte for byte the core's own dicts (a whole
    number stays one, a null stays null, the keys keep their order)."""
    plan = plan_training(float(query["params"]), float(query["tokens"]), gpus=int(query["gpus"]),
                         mfu=float(query.get("mfu", 0.4)), gpu=query.get("gpu"))
    assert anon.get("/plan", **query).content.decode() == json.dumps(plan.to_dict(), cls=DjangoJSONEncoder)
    catalog = load_catalog()
    assert anon.get("/catalog").content.decode() == json.dumps(
        {"machines": [m.to_dict() for m in catalog.machines], "factories": [f.to_dict() for f in catalog.factories]},
        cls=DjangoJSONEncoder)


@pytest.mark.parametrize(
    "query",
    [
        {},  # both required values missing
        {"params": "7e9"},
        {"params": "seven", "tokens": "2e12"},
        {"params": "-1", "tokens": "2e12"},
        {"params": "0", "tokens": "2e12"},
        {"params": "inf", "tokens": "2e12"},
        {"params": "nan", "tokens": "2e12"},
        {"params": "1e308", "tokens": "1e308"},  # would overflow to infinite FLOPs
        {"params": "7e9", "tokens": "2e12", "gpus": "0"},
        {"params": "7e9", "tokens": "2e12", "gpus": "1e99"},
        {"params": "7e9", "tokens": "2e12", "gpus": "99999999999999999999999999"},
        {"params": "7e9", "tokens": "2e12", "mfu": "1.5"},
        {"params": "7e9", "tokens": "2e12", "gpu": "X" * 50},
        {"params": "7e9", "tokens": "2e12", "gpu": "A\x00"},
    ],
)
def test_plan_refuses_bad_queries(anon, query):
    assert_refused(anon.get("/plan", **query), (400, 422))


def test_openapi_document_lists_every_path(anon):
    response = anon.get("/openapi.json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    missing = [p for p in BUILT_PATHS if p not in paths]
    assert not missing, missing


def test_unknown_api_path_is_404(anon):
    assert anon.get("/nothing-here").status_code == 404
