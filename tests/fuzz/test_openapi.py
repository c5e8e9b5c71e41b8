"""schemathesis over every operation of the OpenAPI document, in process (WSGI), bounded in examples: 0 server
errors, and for the operations under the checked prefixes (tests/portal/test_openapi_responses.py) every answer of
a declared status matches its declared schema. The caller is an applicant who holds an allocation with a job, so
that the job paths are reached; each case is also sent with its path ids replaced by the caller's real ones (the
job's uid, the allocation, the organisation, a call), and agent operations are sent with the site's token."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import pytest
from django.core.wsgi import get_wsgi_application
from django.utils import timezone
from hypothesis import HealthCheck, settings

from aifactory.portal.organisations.services import api_token_create, role_grant
from aifactory.portal.review.services import CriterionSpec, call_open
from tests.conftest import JobFactory
from tests.fuzz.conftest import SENT

schemathesis = pytest.importorskip("schemathesis")
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import response_schema_conformance  # noqa: E402

from tests.portal.test_openapi_responses import CHECKED, checked  # noqa: E402

schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", get_wsgi_application())

EXAMPLES = 20


@pytest.fixture
def world(allocation, user, site) -> dict[str, Any]:
    job = JobFactory(allocation=allocation, submitted_by=user)
    role_grant(user=user, role="call_manager", granted_by=None)
    call = call_open(user=user, title="Grand Challenge", mode="grand_challenge",
                     deadline=timezone.now() + timedelta(days=1), decision_by=timezone.localdate() + timedelta(days=30),
                     criteria=[CriterionSpec("quality", 1.0)], budgets={"leonardo": 10_000})
    ids = {"uid": job.uid, "allocation_id": allocation.pk, "org_id": allocation.organisation_id,
           "call_id": call.pk, "app_id": allocation.application_id or 1, "assignment_id": 1, "order_id": 1}
    return {"user": f"Bearer {api_token_create(user=user)}", "site": f"Bearer {site.token}", "ids": ids}


@pytest.mark.django_db
@schema.parametrize()
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
          suppress_health_check=list(HealthCheck))
def test_no_operation_answers_a_server_error(case, world):
    token = world["site"] if case.path.startswith("/api/v1/agent/") else world["user"]
    for real in (False, True):
        if real:
            if not case.path_parameters:
                break
            case.path_parameters = {k: world["ids"].get(k, v) for k, v in case.path_parameters.items()}
        response = case.call(headers={"Authorization": token})
        SENT[f"status {response.status_code}"] += 1
        checks = [not_a_server_error]
        if checked(case.path, CHECKED):  # the answers these operations declare are the answers they give
            checks.append(response_schema_conformance)
        case.validate_response(response, checks=checks)


def test_every_operation_is_in_the_document():
    paths = {re.sub(r"\{[^}]+\}", "{}", p) for p in schema.raw_schema["paths"]}
    SENT["operations"] = sum(len(ops) for ops in schema.raw_schema["paths"].values())
    assert "/api/v1/jobs" in paths and "/api/v1/jobs/{}" in paths and any("/agent/" in p for p in paths)
