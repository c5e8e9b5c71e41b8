"""The training planner's pages: the estimate on its own page (a GET form that works without JavaScript), the
partial HTMX fetches while the person types, and the same estimate next to the application form."""

from __future__ import annotations

import re

import pytest
from django.test import Client

from tests.conftest import text

pytestmark = pytest.mark.django_db


def test_plan_page_shows_the_default_estimate_to_anyone(client, machines):
    response = client.get("/plan/")
    assert response.status_code == 200
    page = text(response)
    assert "Leonardo" in page and "GPU-hours" in page
    assert 'hx-get="/plan/estimate/"' in page  # the live estimate
    assert 'method="get" action="/plan/"' in page  # and the form without JavaScript


def test_plan_page_without_javascript_estimates_the_values_sent(client, machines):
    page = text(client.get("/plan/", {"params": "7e10", "tokens": "2e13", "gpus": "4096", "mfu": "0.4", "gpu": ""}))
    assert "8.4 × 10^24 FLOP" in page
    assert "Below the AI Act" in page


def test_plan_systemic_risk_notice(client, machines):
    response = client.get("/plan/estimate/", {"params": "4e11", "tokens": "1.5e13", "gpus": "8192"})
    assert response.status_code == 200
    page = text(response)
    assert "3.6 × 10^25 FLOP" in page
    assert 'data-testid="systemic-risk"' in page and "Article 51" in page


def test_plan_memory_fit_and_unusable_machines(client, machines):
    page = text(client.get("/plan/estimate/", {"params": "7e10", "tokens": "1e12", "gpus": "8"}))
    assert "does not fit" in page  # 70 B parameters need 1,120 GB of model states: 140 GB per GPU over 8
    page = text(client.get("/plan/estimate/", {"params": "1e9", "tokens": "1e10", "gpus": "8"}))
    assert "fits, unsharded" in page


def test_plan_refusal_is_swapped_next_to_its_field(client, machines):
    response = client.get("/plan/estimate/", {"params": "0", "tokens": "2e12", "gpus": "8", "live": "params,gpus"})
    assert response.status_code == 200  # HTMX swaps 2xx answers only
    page = text(response)
    assert 'data-testid="plan-refused"' in page and "Model parameters" in page
    assert re.search(r'<span id="live-error-params" hx-swap-oob="innerHTML">[^<]*greater than or equal to 1', page)
    assert '<span id="live-error-gpus" hx-swap-oob="innerHTML"></span>' in page  # cleared


def test_plan_refusal_without_javascript_is_next_to_the_field(client, machines):
    response = client.get("/plan/", {"params": "-3", "tokens": "x", "gpus": "8"})
    html = response.content.decode()
    assert re.search(r'<ul class="errorlist" id="id_params_error">', html)
    assert re.search(r'<ul class="errorlist" id="id_tokens_error">', html)
    assert 'aria-invalid="true"' in html


def test_plan_only_for_one_gpu_model(client, machines):
    page = text(client.get("/plan/estimate/", {"params": "1e9", "tokens": "1e10", "gpus": "8", "gpu": "MI250X"}))
    assert "LUMI" in page and "Leonardo" not in page


def test_application_form_shows_the_estimate_and_marks_the_chosen_machine(user, site, organisation):
    client = Client()
    client.force_login(user)
    response = client.get("/applications/new/")
    page = text(response)
    assert 'id="plan-estimate"' in page and 'hx-get="/plan/estimate/"' in page
    assert '<span id="live-error-params" class="live-error" aria-live="polite"></span>' in page
    response = client.post("/applications/new/", {"organisation": organisation.pk, "title": "x", "machine": "leonardo",
                                                  "params": "1e9", "tokens": "2e10", "gpus": "8",
                                                  "requested_gpu_hours": "100", "months": "3"})
    page = text(response)
    assert "Leonardo <span class=\"muted\">(chosen)</span>" in page
    assert "id_title_error" in page  # the refusal (title too short) next to its field, the estimate kept


def test_every_field_of_the_planner_and_the_application_is_labelled(user, site, organisation):
    from tests.portal.review.test_pages_calls import assert_every_field_labelled

    client = Client()
    client.force_login(user)
    for path in ("/plan/", "/applications/new/", f"/organisations/{organisation.pk}/", "/dashboard/"):
        response = client.get(path)
        assert response.status_code == 200, path
        assert_every_field_labelled(response)
