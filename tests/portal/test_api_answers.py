"""Every GET operation of the API answered for a lived-in database, as each role sees it, kept in a file so that a
change to how answers are built (output schemas, selectors) can be shown to leave them byte for byte as they were.

Runs where AIFACTORY_API_ANSWERS names a file (skipped elsewhere): the first run writes the answers there; a later
run compares its answers with the file's and fails on any difference, writing its own next to it (`.new`). Values
that differ from one run to the next whatever the code (times, uids, keys) are replaced by their shape."""

from __future__ import annotations

import json
import os
import re
from pathlib import Path
from typing import Any

import pytest
from django.utils import timezone

from aifactory.core.jobs import JobState
from aifactory.portal.allocations.models import Notice
from aifactory.portal.api import api as ninja_api
from aifactory.portal.jobs.models import JobPlacement, JobRevocation
from aifactory.portal.review.models import Assignment
from aifactory.portal.review.services import call_select, conflict_declare, review_submit
from tests.conftest import ApiClient, JobFactory
from tests.portal.test_roles_matrix import world  # noqa: F401  (the fixture)

ANSWERS = os.environ.get("AIFACTORY_API_ANSWERS", "")

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(not ANSWERS, reason="compares the API's answers with a file: set AIFACTORY_API_ANSWERS"),
]

ROLES = ("applicant", "other_applicant", "reviewer", "conflicted_reviewer", "call_manager", "operator", "observer",
         "staff")

DATETIME = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?")
HEX32 = re.compile(r"\b[0-9a-f]{32}\b")
SSH = re.compile(r"(ssh-ed25519(-cert-v01@openssh.com)?|AAAA)[A-Za-z0-9+/=@.-]{20,}")
FINGERPRINT = re.compile(r"SHA256:[A-Za-z0-9+/=]{20,}")
SERIAL = re.compile(r'"serial": \d+|(?<=:)\d{12,}(?=")')
SOLVER_SECONDS = re.compile(r'"seconds": [0-9.e-]+')
TINY = re.compile(r"\b\d(\.\d+)?e-0\d\b")
"""A figure measured over seconds since the world was made (the objectives' progress)."""


def _shape(text: str) -> str:
    text = DATETIME.sub(lambda m: "YYYY-MM-DDTHH:MM:SS" + (".f" if m.group(1) else ""), text)
    text = HEX32.sub("<hex32>", text)
    text = SSH.sub("<ssh>", text)
    text = SERIAL.sub(lambda m: '"serial": <serial>' if m.group().startswith('"') else '<serial>', text)
    text = TINY.sub("<tiny>", text)
    text = SOLVER_SECONDS.sub('"seconds": <seconds>', text)
    return FINGERPRINT.sub("<fingerprint>", text)


def _ids(world_ids: dict[str, Any], path: str) -> dict[str, Any]:
    pk = ("support" if "/support/" in path else "challenge" if "/challenges/" in path
          else "profile" if "/profiles/" in path else "match" if "/matches/" in path
          else "obligation" if "/obligations/" in path else None)
    return {"site": world_ids["site"], "org_id": world_ids["org"], "app_id": world_ids["app"],
            "allocation_id": world_ids["allocation"], "uid": world_ids["uid"], "call_id": world_ids["call"],
            "assignment_id": world_ids["assignment"], "run_id": world_ids["run"], "key": "it4lia",
            "pk": world_ids.get(pk or "", 0)}


def _answers(people: dict[str, Any], ids: dict[str, Any], site_token: str) -> dict[str, Any]:
    from aifactory.portal.organisations.services import api_token_create

    prefix = "/api/v1"
    paths = [p for p, ops in ninja_api.get_openapi_schema()["paths"].items() if "get" in ops]
    out: dict[str, Any] = {}
    clients = {role: ApiClient(api_token_create(user=people[role])) for role in ROLES}
    clients["agent"] = ApiClient(site_token)
    for path in paths:
        url = path.removeprefix(prefix).format(**_ids(ids, path))
        if url.startswith("/agent/wait"):
            url += "?timeout_s=0"
        for role, client in clients.items():
            if (role == "agent") != url.startswith("/agent/"):
                continue
            response = client.get(url)
            body = response.content.decode("utf-8", "replace")
            out[f"{role} GET {path}"] = {"status": response.status_code, "body": _shape(body)}
    return out


def test_every_get_answers_as_recorded(world, site):  # noqa: F811
    people, ids = world
    from aifactory.portal.access.models import Application

    allocation = Application.objects.get(pk=ids["app"]).allocation
    job = JobFactory(allocation=allocation, submitted_by=people["applicant"], name="train", state=JobState.RUNNING,
                     scheduler_id="123", started_at=timezone.now(), image="img.sif", inputs=["/data"],
                     outputs=["ckpt"], env={"A": "1"})
    JobPlacement.objects.create(job=job, site=site.site, allocation=allocation, cause="submitted",
                                reasons=[{"site": site.site.name, "reason": "fits", "chosen": True}])
    JobRevocation.objects.create(job=job, site=site.site, allocation=allocation, reason="moved")
    JobFactory(allocation=allocation, submitted_by=people["applicant"], name="done", state=JobState.COMPLETED,
               exit_code=0, gpu_seconds=7200.5, ended_at=timezone.now(), output_files=[{"path": "a", "bytes": 3}])
    Notice.objects.create(allocation=allocation, threshold=80, gpu_hours_used=8.5, gpu_hours=allocation.gpu_hours)
    assignment = Assignment.objects.get(pk=ids["assignment"])
    review_submit(assignment=assignment, user=people["reviewer"], marks={"quality": 4}, comment="sound")
    conflict_declare(user=people["conflicted_reviewer"], application=assignment.application, reason="same lab")
    call_select(call=assignment.call, user=people["call_manager"])
    ids = {**ids, "uid": job.uid}
    answers = _answers(people, ids, site.token)
    path = Path(ANSWERS)
    if not path.exists():
        path.write_text(json.dumps(answers, indent=1, sort_keys=True), encoding="utf-8")
        pytest.skip(f"recorded {len(answers)} answers in {path}")
    recorded = json.loads(path.read_text(encoding="utf-8"))
    changed = sorted(k for k in recorded.keys() | answers.keys() if recorded.get(k) != answers.get(k))
    if changed:
        Path(f"{path}.new").write_text(json.dumps(answers, indent=1, sort_keys=True), encoding="utf-8")
    assert not changed, f"{len(changed)} answers differ from {path} (see {path}.new): {changed[:20]}"
