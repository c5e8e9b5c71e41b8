"""/jobs: submit (a job spec for an organisation, or a script for one allocation), list, read with the broker's
reasons, cancel, logs."""

from __future__ import annotations

import hashlib
import json
import re
from datetime import datetime
from typing import Any, Literal

from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema
from pydantic import model_validator

from aifactory.core.jobs import JobState
from aifactory.core.jobspec import parse_spec, spec_from_dict
from aifactory.portal.allocations.selectors import allocation_get, allocations_of
from aifactory.portal.common.errors import BadRequest, NotFound
from aifactory.portal.common.responses import answer
from aifactory.portal.common.schemas import In
from aifactory.portal.federation.auth import site_auth
from aifactory.portal.federation.selectors import site_wait
from aifactory.portal.jobs.models import Job, JobRevocation
from aifactory.portal.jobs.selectors import (
    job_get,
    jobs_of,
    jobs_open_for_site,
    revocations_open,
    site_has_work,
    usage_by_person,
)
from aifactory.portal.jobs.services import (
    Once,
    job_apply_report,
    job_cancel,
    job_revocation_done,
    job_submit,
    job_submit_once,
    job_submit_spec,
)
from aifactory.portal.organisations.auth import user_auth
from aifactory.portal.organisations.selectors import organisation_chosen
from aifactory.portal.siteaccess.selectors import site_username_of

router = Router(tags=["jobs"], auth=user_auth)
agent_router = Router(tags=["agent"], auth=site_auth)

LEGACY_FIELDS = ("name", "script", "gpus", "time_limit_s", "env")
WAIT_MAX_S = 25.0
"""The longest an agent's long-poll is held (below gunicorn's and proxies' usual 30 s)."""


class JobIn(In):
    """Either `spec` (a job spec object, or its YAML or JSON text) for an `organisation` (default: your only one)
    or one of its allocations; or, for one `allocation`, a `script` with `name`, `gpus`, `time_limit_s`, `env`."""

    spec: dict[str, Any] | str | None = Field(None, description="a job spec (see docs/jobs.md): object or text")
    organisation: int | None = Field(None, strict=True, description="the organisation the job runs for")
    allocation: int | None = Field(None, strict=True, description="keep the job on this allocation")
    name: str | None = Field(None, min_length=1, max_length=64)
    script: str | None = Field(None, min_length=1, max_length=65536, description="bash commands, run as a file")
    gpus: int | None = Field(None, ge=1, le=1024, strict=True)
    time_limit_s: int | None = Field(None, ge=60, le=7 * 86400, strict=True)
    env: dict[str, str] | None = None

    @model_validator(mode="after")
    def _one_form(self) -> JobIn:
        given = [k for k in LEGACY_FIELDS if getattr(self, k) is not None]
        if self.spec is not None:
            if given:
                raise ValueError(f"spec: give a spec, or {', '.join(given)} without one, not both")
            if self.organisation is not None and self.allocation is not None:
                raise ValueError("organisation: give an organisation or one of its allocations, not both")
        else:
            for key in ("allocation", "name", "script"):
                if getattr(self, key) is None:
                    raise ValueError(f"{key}: field required (or give a spec)")
            if self.organisation is not None:
                raise ValueError("organisation: a script job names its allocation; give a spec to let the broker "
                                 "choose among the organisation's allocations")
        return self


class PlacementOut(Schema):
    """One decision of the broker for the job (a JobPlacement)."""

    site: str = Field(..., alias="site.name")
    machine: str = Field(..., alias="site.machine.key")
    account: str = Field(..., alias="allocation.account")
    cause: str
    held: bool
    expected_start_at: datetime | None
    expected_end_at: datetime | None
    at: datetime = Field(..., alias="created_at")
    reasons: list[dict[str, Any]]


class RevocationOut(Schema):
    """A site told to cancel its copy of the job (a JobRevocation)."""

    site: str = Field(..., alias="site.name")
    reason: str
    at: datetime = Field(..., alias="created_at")
    done_at: datetime | None
    found: bool | None
    state: str
    gpu_seconds: float


class JobOut(Schema):
    """A job with every placement the broker made for it and every copy a site was told to cancel."""

    uid: str
    name: str
    organisation: int = Field(..., alias="allocation.organisation_id")
    allocation: int = Field(..., alias="allocation_id")
    account: str = Field(..., alias="allocation.account")
    machine: str = Field(..., alias="allocation.machine.key")
    site: str = Field(..., alias="site.name")
    state: str
    cancel_requested: bool
    pinned: bool
    gpus: int
    nodes: int
    time_limit_s: int
    image: str
    inputs: list[str]
    outputs: list[str]
    output_files: list[dict[str, Any]]
    scheduler_id: str
    exit_code: int | None
    gpu_seconds: float
    message: str
    created_at: datetime
    expected_start_at: datetime | None
    expected_end_at: datetime | None
    started_at: datetime | None
    ended_at: datetime | None
    placements: list[PlacementOut]
    revocations: list[RevocationOut]


class LogsOut(Schema):
    uid: str
    log: str = Field(..., alias="log_tail")


class JobsQuery(In):
    state: Literal["open", "finished", "all", "pending", "submitted", "running", "completed", "failed",
                   "cancelled"] = "all"
    organisation: int | None = Field(None, strict=False)
    limit: int = Field(200, ge=1, le=500)


class PersonUsageOut(Schema):
    person: str
    site_users: list[str]
    gpu_hours: float
    jobs: int


@router.get("/allocations/{allocation_id}/usage-by-person", response=list[PersonUsageOut],
            summary="GPU-hours of an allocation per person, with their accounts at the sites")
def allocation_usage_by_person(request: HttpRequest, allocation_id: int) -> list[dict[str, Any]]:
    return usage_by_person(allocation_get(user=request.user, pk=allocation_id))


IDEMPOTENCY_KEY_RE = re.compile(r"^[\x21-\x7e]{1,128}$")
"""An Idempotency-Key: 1 to 128 visible ASCII characters (a UUID is the usual choice)."""


def _once(request: HttpRequest, body: JobIn) -> Once | None:
    key = request.headers.get("Idempotency-Key")
    if key is None:
        return None
    if not IDEMPOTENCY_KEY_RE.match(key):
        raise BadRequest("Idempotency-Key: 1 to 128 visible ASCII characters (e.g. a UUID)",
                         {"field": "Idempotency-Key"})
    canonical = json.dumps(body.dict(), sort_keys=True, separators=(",", ":"), default=str)
    return Once(key=key, digest=hashlib.sha256(canonical.encode()).hexdigest())


@router.post("/jobs", response={201: JobOut}, summary="Submit a job; with an Idempotency-Key header, sending the same "
             "request again (its answer was lost) returns the job it made instead of a second one",
             openapi_extra={"parameters": [{
                 "in": "header", "name": "Idempotency-Key", "required": False,
                 "description": "at most one job per person and key; the same request again answers with that job",
                 "schema": {"type": "string", "minLength": 1, "maxLength": 128, "pattern": "^[\\x21-\\x7e]+$"}}]})
def submit(request: HttpRequest, response: HttpResponse, body: JobIn) -> Any:
    once = _once(request, body)
    if once is None:
        return answer(201, _submit(request, body, None))  # answered from the rows just written: no read-back
    job, replayed = job_submit_once(user=request.user, once=once, submit=lambda: _submit(request, body, once))
    if replayed:
        response["Idempotent-Replayed"] = "true"
        job = job_get(user=request.user, uid=job.uid)
    return answer(201, job)


def _submit(request: HttpRequest, body: JobIn, once: Once | None) -> Job:
    allocation = None
    if body.allocation is not None:
        allocation = allocations_of(request.user).filter(pk=body.allocation).first()
        if allocation is None:
            raise NotFound(f"allocation {body.allocation} not found")
    if body.spec is not None:
        spec = parse_spec(body.spec) if isinstance(body.spec, str) else spec_from_dict(body.spec)
        organisation = None if allocation is not None else organisation_chosen(
            user=request.user, pk=body.organisation, what="the job runs for")
        return job_submit_spec(user=request.user, spec=spec, organisation=organisation, allocation=allocation,
                               once=once)
    if allocation is None or body.name is None or body.script is None:  # JobIn._one_form has said so already
        raise BadRequest("allocation, name and script are required without a spec")
    return job_submit(user=request.user, allocation=allocation, name=body.name, script=body.script,
                      gpus=body.gpus if body.gpus is not None else 1,
                      time_limit_s=body.time_limit_s if body.time_limit_s is not None else 3600,
                      env=body.env or {}, once=once)


@router.get("/jobs", response=list[JobOut])
def jobs(request: HttpRequest, q: Query[JobsQuery]) -> list[Job]:
    qs = jobs_of(request.user)
    if q.state == "open":
        qs = qs.exclude(state__in=[s.value for s in JobState if s.terminal])
    elif q.state == "finished":
        qs = qs.filter(state__in=[s.value for s in JobState if s.terminal])
    elif q.state != "all":
        qs = qs.filter(state=q.state)
    if q.organisation is not None:
        qs = qs.filter(allocation__organisation_id=q.organisation)
    return list(qs[: q.limit])


@router.get("/jobs/{uid}", response=JobOut)
def job(request: HttpRequest, uid: str) -> Job:
    return job_get(user=request.user, uid=uid)


@router.post("/jobs/{uid}/cancel", response=JobOut)
def cancel(request: HttpRequest, uid: str) -> Job:
    job_cancel(job=job_get(user=request.user, uid=uid), user=request.user)
    return job_get(user=request.user, uid=uid)


@router.get("/jobs/{uid}/logs", response=LogsOut)
def logs(request: HttpRequest, uid: str) -> Job:
    return job_get(user=request.user, uid=uid)


# The agent's side of jobs (a site's token): the jobs to run, their reports, the copies to cancel

class AgentJobOut(Schema):
    uid: str
    name: str
    account: str = Field(..., alias="allocation.account")
    gpus: int
    nodes: int
    time_limit_s: int
    script: str
    env: dict[str, str]
    image: str
    inputs: list[str]
    outputs: list[str]
    state: str
    cancel_requested: bool
    scheduler_id: str
    user: str = Field("", description="the submitter's account at this site, where jobs run under personal accounts")
    lease_s: int = Field(0, description="renew the job's lease (its folder's `lease` file) at each pass: the job "
                                        "stops when it is not renewed for this long; 0: no lease")

    @staticmethod
    def resolve_user(j: Job, context: dict[str, Any]) -> str:
        return site_username_of(j.submitted_by_id, context["request"].auth, j.allocation_id)


class AgentRevocationOut(Schema):
    uid: str = Field(..., alias="job.uid")
    account: str = Field(..., alias="allocation.account")
    reason: str


class RevocationDoneIn(In):
    found: bool
    state: JobState | None = None
    scheduler_id: str = Field("", max_length=64)
    gpu_seconds: float = Field(0.0, ge=0, le=1e12)
    released: bool = False
    message: str = Field("", max_length=2000)


class OutputFileIn(In):
    path: str = Field(..., min_length=1, max_length=1024)
    bytes: int = Field(..., ge=0, le=10**18)


class ReportIn(In):
    nul_stripped = frozenset({"log_tail", "message"})

    state: JobState
    scheduler_id: str = Field("", max_length=64)
    exit_code: int | None = Field(None, ge=-255, le=255)
    gpu_seconds: float = Field(0.0, ge=0)
    started_at: datetime | None = None
    ended_at: datetime | None = None
    log_tail: str = Field("", max_length=1_000_000)
    message: str = Field("", max_length=2000)
    output_files: list[OutputFileIn] | None = Field(None, max_length=64)


class WaitQuery(In):
    timeout_s: float = Field(20.0, ge=0, le=WAIT_MAX_S, description="seconds to wait for work at most")


class WaitOut(Schema):
    work: bool


@agent_router.get("/wait", response=WaitOut, summary="Wait (long-poll) until this site has work, or timeout_s")
def agent_wait(request: HttpRequest, q: Query[WaitQuery]) -> dict[str, Any]:
    site = request.auth
    return {"work": site_wait(site=site, timeout_s=q.timeout_s, ready=lambda: site_has_work(site))}


@agent_router.get("/jobs", response=list[AgentJobOut])
def agent_jobs(request: HttpRequest) -> list[Job]:
    return list(jobs_open_for_site(request.auth))


@agent_router.post("/jobs/{uid}", response={204: None}, summary="Report a job's state; 410 when it is no longer "
                   "this site's (cancel the copy, never let it start)")
def agent_report(request: HttpRequest, uid: str, body: ReportIn) -> Any:
    data = body.dict()
    files = data.pop("output_files")
    job_apply_report(site=request.auth, uid=uid, output_files=files, **data)
    return answer(204, None)


@agent_router.get("/revocations", response=list[AgentRevocationOut],
                  summary="Jobs whose copy this site must cancel: they moved away or were cancelled")
def revocations(request: HttpRequest) -> list[JobRevocation]:
    return list(revocations_open(request.auth))


@agent_router.post("/revocations/{uid}", response={204: None})
def revocation_done(request: HttpRequest, uid: str, body: RevocationDoneIn) -> Any:
    data = body.dict()
    data["state"] = data["state"].value if data["state"] is not None else ""
    job_revocation_done(site=request.auth, uid=uid, **data)
    return answer(204, None)
