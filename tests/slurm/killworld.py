"""The kill loop's portal data on its own PostgreSQL database, run as a separate process (the test's own process uses
the test settings' database): `python -m tests.slurm.killworld setup` makes the federation and prints its ids and
tokens; `dump` prints the jobs, revocations and allocations, read in one snapshot, as JSON.

    leonardo-a  on cluster aif-a   allocation <prefix>-p<N>            50 GPU-hours
    jupiter-b   on cluster aif-b   allocation <prefix>-p<N>-jupiter    50 GPU-hours

DATABASE_URL names the database; AIFACTORY_ACCOUNT_PREFIX gives the allocations fresh Slurm accounts.
"""

from __future__ import annotations

import json
import sys
from typing import Any

import django


def setup() -> dict[str, Any]:
    from aifactory.portal.allocations.services import allocation_create
    from aifactory.portal.federation.services import site_create
    from aifactory.portal.organisations.services import api_token_create
    from tests.conftest import ApplicationFactory, OrganisationFactory, UserFactory, machine

    machine("leonardo")
    a_site, a_token = site_create(name="leonardo-a", machine_key="leonardo", backend="slurm")
    b_site, b_token = site_create(name="jupiter-b", machine_key="jupiter", backend="slurm")
    user = UserFactory(username="alice")
    org = OrganisationFactory(members=[user])
    app = ApplicationFactory(organisation=org, submitted_by=user, requested_gpu_hours=50)
    on_a = allocation_create(application=app)
    on_b = allocation_create(application=app, machine=machine("jupiter"), gpu_hours=50)
    return {
        "token": api_token_create(user=user), "organisation": org.pk,
        "sites": {"leonardo-a": a_token, "jupiter-b": b_token},
        "accounts": {"leonardo-a": on_a.account, "jupiter-b": on_b.account},
    }


def dump() -> dict[str, Any]:
    from django.db import connection, transaction

    from aifactory.portal.allocations.models import Allocation, ProvisioningOrder
    from aifactory.portal.jobs.models import Job, JobPlacement, JobRevocation

    with transaction.atomic():
        with connection.cursor() as cursor:  # every read below sees the same committed state
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        moves = [
            {"uid": p.job.uid, "to": p.site.name, "at": p.created_at.timestamp(), "cause": p.cause}
            for p in JobPlacement.objects.select_related("job", "site").exclude(cause="submitted").order_by("pk")
        ]
        jobs = [
            {"uid": j.uid, "state": j.state, "site": j.site.name, "allocation": j.allocation_id, "gpus": j.gpus,
             "time_limit_s": j.time_limit_s, "gpu_seconds": j.gpu_seconds, "scheduler_id": j.scheduler_id,
             "message": j.message, "key": j.idempotency_key}
            for j in Job.objects.select_related("site").order_by("pk")
        ]
        revocations = [
            {"uid": r.job.uid, "site": r.site.name, "allocation": r.allocation_id, "done": r.done_at is not None,
             "found": r.found, "state": r.state, "gpu_seconds": r.gpu_seconds, "released": r.released,
             "scheduler_id": r.scheduler_id}
            for r in JobRevocation.objects.select_related("job", "site").order_by("pk")
        ]
        allocations = [
            {"id": a.pk, "account": a.account, "reserved": a.gpu_seconds_reserved, "used": a.gpu_seconds_used}
            for a in Allocation.objects.order_by("pk")
        ]
        orders = {o.state for o in ProvisioningOrder.objects.all()}
    return {"jobs": jobs, "revocations": revocations, "allocations": allocations, "orders": sorted(orders),
            "moves": moves}


if __name__ == "__main__":
    django.setup()
    print(json.dumps({"setup": setup, "dump": dump}[sys.argv[1]]()))
