"""One error tree and one translation: every core exception becomes a refusal with its data, in the API and on
pages alike; the core's docstring draws every exception the core defines."""

from __future__ import annotations

import html
import importlib
import pkgutil
import re
from datetime import timedelta

import pytest
from django.http import HttpRequest, HttpResponse
from django.urls import path
from django.utils import timezone

import aifactory.core
from aifactory.core import exceptions as core_exceptions
from aifactory.core.catalog import CatalogError
from aifactory.core.exceptions import (
    CoreError,
    Ineligible,
    InvalidInput,
    InvalidTransition,
    NoPlacement,
    SolverError,
    TraceError,
)
from aifactory.core.review import InfeasibleAssignment
from aifactory.portal.common.errors import BadRequest, Refusal, refusal_of
from aifactory.portal.organisations.services import role_grant
from aifactory.portal.review.services import CriterionSpec, call_close, call_open
from aifactory.portal.urls import urlpatterns as portal_urlpatterns
from tests.conftest import UserFactory, login, text

# Each core exception, an example of it, and the status and detail the portal answers it with.
EXPECTED = [
    (InvalidInput("gpus", "must be positive"), 400, {"field": "gpus"}),
    (CatalogError("leonardo", "country", "not ISO"), 400, {"field": "leonardo.country", "record": "leonardo"}),
    (InvalidTransition("call", "closed", "open"), 409, {"entity": "call", "current": "closed", "target": "open"}),
    (Ineligible(["not established in the EU", "not for civil use"]), 400,
     {"reasons": ["not established in the EU", "not for civil use"]}),
    (NoPlacement({"leonardo": "too few GPUs", "meluxina": "too long"}), 400,
     {"reasons": {"leonardo": "too few GPUs", "meluxina": "too long"}}),
    (TraceError("t.swf", 3, "run_time", "not a number"), 400, {"field": "run_time", "path": "t.swf", "line": 3}),
    (InfeasibleAssignment(["7", "9"], "too few reviewers"), 409, {"status": "infeasible", "proposals": ["7", "9"]}),
    (SolverError("timeout", "no answer in time"), 422, {"status": "timeout"}),
]


def _core_exception_classes() -> set[type[CoreError]]:
    for module in pkgutil.walk_packages(aifactory.core.__path__, "aifactory.core."):
        importlib.import_module(module.name)
    found: set[type[CoreError]] = set()
    todo = [CoreError]
    while todo:
        cls = todo.pop()
        found.add(cls)
        todo.extend(cls.__subclasses__())
    return {c for c in found if c.__module__.startswith("aifactory.core")}


@pytest.mark.parametrize(("exc", "status", "detail"), EXPECTED, ids=lambda v: type(v).__name__)
def test_each_core_exception_is_translated_with_its_data(exc, status, detail):
    refusal = refusal_of(exc)
    assert isinstance(refusal, Refusal)
    assert (refusal.status, refusal.detail, refusal.message) == (status, detail, exc.message)


def test_every_core_exception_has_its_translation_tested():
    assert _core_exception_classes() - {CoreError} == {type(e) for e, _, _ in EXPECTED}


def test_the_core_docstring_draws_every_core_exception():
    drawn = set(re.findall(r"\b([A-Z][A-Za-z]+)\b", core_exceptions.__doc__ or ""))
    missing = {c.__name__ for c in _core_exception_classes()} - drawn
    assert not missing


def test_a_refusal_passes_through_and_anything_else_is_not_a_refusal():
    refusal = BadRequest("name: too long", {"field": "name"})
    assert refusal_of(refusal) is refusal and refusal.field == "name"
    with pytest.raises(KeyError):
        refusal_of(KeyError("a fault of the portal"))


# --- the API: reasons and fields kept ------------------------------------------------------------------------------

def test_the_api_answers_a_core_exception_with_its_data(api, organisation, monkeypatch):
    from aifactory.portal.organisations import api as organisations_api

    def refuse(*args, **kwargs):
        raise Ineligible(["turnover above the ceiling"])

    monkeypatch.setattr(organisations_api, "organisation_pledges_set", refuse, raising=False)
    monkeypatch.setattr(organisations_api, "organisations_of", refuse)
    response = api.get("/organisations")
    assert response.status_code == 400
    assert response.json() == {"message": "turnover above the ceiling",
                               "detail": {"reasons": ["turnover above the ceiling"]}}


# --- pages ----------------------------------------------------------------------------------------------------------

def _refuse_transition(request: HttpRequest) -> HttpResponse:
    raise InvalidTransition("call", "closed", "closed")


def _refuse_no_placement(request: HttpRequest) -> HttpResponse:
    raise NoPlacement({"leonardo": "too few GPUs"})


urlpatterns = [
    path("test-refusals/transition/", _refuse_transition),
    path("test-refusals/placement/", _refuse_no_placement),
    *portal_urlpatterns,
]


@pytest.fixture
def manager(site):
    person = UserFactory(username="maria")
    role_grant(user=person, role="call_manager", granted_by=None)
    client = login(person)
    client.person = person
    return client


@pytest.fixture
def call(manager):
    return call_open(user=manager.person, title="Grand Challenge", mode="grand_challenge",
                     deadline=timezone.now() + timedelta(days=1),
                     decision_by=timezone.localdate() + timedelta(days=30),
                     criteria=[CriterionSpec("quality", 1.0)], budgets={"leonardo": 10_000})


@pytest.mark.django_db
def test_closing_a_call_twice_shows_the_reason_not_a_500(manager, call):
    call_close(call=call, user=manager.person, reason="all proposals in")
    response = manager.post(f"/calls/{call.pk}/close/", {"reason": "double click"})
    assert response.status_code == 200
    page = html.unescape(text(response))
    assert "cannot move from 'review' to 'review'" in page, re.findall(r"errorlist[^>]*>(.*?)</ul>", page)


@pytest.mark.django_db
@pytest.mark.urls("tests.portal.common.test_errors")
def test_a_refused_action_a_view_lets_through_goes_back_with_its_reason(manager):
    response = manager.post("/test-refusals/transition/", HTTP_REFERER="http://testserver/calls/")
    assert (response.status_code, response["Location"]) == (302, "http://testserver/calls/")
    assert "call cannot move from 'closed' to 'closed'" in html.unescape(text(manager.get("/calls/")))


@pytest.mark.django_db
@pytest.mark.urls("tests.portal.common.test_errors")
def test_a_refused_action_never_redirects_off_site(manager):
    response = manager.post("/test-refusals/transition/", HTTP_REFERER="https://elsewhere.example/")
    assert (response.status_code, response["Location"]) == (302, "/test-refusals/transition/")


@pytest.mark.django_db
@pytest.mark.urls("tests.portal.common.test_errors")
def test_a_refused_read_answers_its_status_with_navigation_and_reasons(manager):
    response = manager.get("/test-refusals/placement/")
    assert response.status_code == 400
    page = text(response)
    assert "no machine can take this job" in page and "leonardo: too few GPUs" in page and "Dashboard" in page


@pytest.mark.django_db
@pytest.mark.urls("tests.portal.common.test_errors")
def test_the_api_path_is_left_to_the_api(manager):
    from aifactory.portal.common.middleware import RefusalMiddleware

    request = HttpRequest()
    request.path = "/api/v1/anything"
    assert RefusalMiddleware(lambda r: HttpResponse()).process_exception(request, InvalidInput("x", "y")) is None
