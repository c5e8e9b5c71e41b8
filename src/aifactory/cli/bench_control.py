"""The control of the submission load test: an authenticated one-row insert on the portal's own stack.

`aifactory bench submit --tool locust` serves the portal with aifactory.cli.bench_settings, whose URLs are these:
the portal's settings, middleware, URLs, body parser and token authentication, plus one endpoint,
`POST /bench/v1/insert`, that validates a small body and inserts one row with the framework's ORM (an entry of
Django's own admin log). What a submission costs above it is what submitting itself costs. The portal
never serves this module: only the benchmark's gunicorn is given it.
"""

from __future__ import annotations

from typing import Any

from django.contrib.admin.models import ADDITION, LogEntry
from django.http import HttpRequest
from django.urls import path
from ninja import Field, NinjaAPI

from aifactory.portal.common.parser import BoundedJsonParser
from aifactory.portal.common.responses import answer
from aifactory.portal.common.schemas import In
from aifactory.portal.organisations.auth import user_auth
from aifactory.portal.urls import urlpatterns as portal_urlpatterns

control = NinjaAPI(title="aifactory bench control", version="1", urls_namespace="bench-control",
                   parser=BoundedJsonParser(), docs_url=None)


class InsertIn(In):
    note: str = Field(..., min_length=1, max_length=200)


@control.post("/insert", response={201: dict[str, Any]}, auth=user_auth)
def insert(request: HttpRequest, body: InsertIn) -> Any:
    row = LogEntry.objects.create(user_id=request.user.pk, action_flag=ADDITION, object_repr=body.note,
                                  change_message="")
    return answer(201, {"id": row.pk})


urlpatterns = [path("bench/v1/", control.urls), *portal_urlpatterns]
