"""Funding pathways: the instruments that fit an organisation, with reasons and sources; the stage it declares."""

from __future__ import annotations

import pytest

from tests.conftest import OrganisationFactory, login

pytestmark = pytest.mark.django_db


def test_an_eligible_startup_sees_what_fits_and_why(api, organisation, anon):
    data = api.get(f"/organisations/{organisation.pk}/funding").json()
    assert data["eligible"] is True and data["stage"] is None
    eic = next(p for p in data["pathways"] if p["instrument"] == "eic-accelerator")
    assert any(r.startswith("stage: it asks for") for r in eic["reasons"]) and eic["sources"]
    staged = api.post(f"/organisations/{organisation.pk}/funding/stage", {"trl": 6}).json()
    assert staged == api.get(f"/organisations/{organisation.pk}/funding").json()
    assert list(staged) == ["organisation", "eligible", "eligibility", "stage", "stage_text", "pathways"]
    assert (staged["organisation"], staged["stage"]) == (organisation.pk, 6) and staged["stage_text"]
    assert [list(p) for p in staged["pathways"]][0] == ["instrument", "name", "fits", "components", "reasons",
                                                        "unstated", "sources", "details"]
    eic = next(p for p in staged["pathways"] if p["instrument"] == "eic-accelerator")
    assert eic["fits"] and eic["components"] == ["grant", "investment"]
    assert [r.split(":")[0] for r in eic["reasons"]] == ["SME category", "stage", "sector"]
    early = api.post(f"/organisations/{organisation.pk}/funding/stage", {"trl": 1}).json()
    assert not next(p for p in early["pathways"] if p["instrument"] == "eic-accelerator")["fits"]
    assert early["pathways"][0]["fits"]  # the fitting ones first
    assert len(anon.get("/funding/instruments").json()) == 2


def test_refusals_and_others(api, organisation, other_api, user):
    assert api.post(f"/organisations/{organisation.pk}/funding/stage", {"trl": 3}).status_code == 400
    assert api.post(f"/organisations/{organisation.pk}/funding/stage", {"trl": "6"}).status_code == 422
    assert other_api.get(f"/organisations/{organisation.pk}/funding").status_code == 404
    assert other_api.post(f"/organisations/{organisation.pk}/funding/stage", {"trl": 6}).status_code == 404
    outside = OrganisationFactory(name="Far Lab", country="US", members=[user])
    data = api.get(f"/organisations/{outside.pk}/funding").json()
    assert data["eligible"] is False
    assert not next(p for p in data["pathways"] if p["instrument"] == "eic-accelerator")["fits"]


def test_the_page(user, organisation):
    client = login(user)
    page = client.get(f"/organisations/{organisation.pk}/funding/")
    assert page.status_code == 200 and b"EIC Accelerator" in page.content and b"access2eic.eu" in page.content
    assert client.post(f"/organisations/{organisation.pk}/funding/", {"trl": "6"}).status_code == 302
    assert b"meets technology readiness level" in client.get(f"/organisations/{organisation.pk}/funding/").content
