"""First-run set-up shared by `aifactory run` and `aifactory demo`: schema, catalog, a site and a demo login."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

DEMO_USER = "demo"
DEMO_PASSWORD = "aifactory-demo"


@dataclass(frozen=True)
class Bootstrap:
    site: str
    machine: str
    token_file: Path


def setup_django(data_dir: Path) -> None:
    data_dir.mkdir(parents=True, exist_ok=True)
    os.environ["AIFACTORY_DATA_DIR"] = str(data_dir)
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "aifactory.portal.settings")
    import django

    django.setup()


def bootstrap(*, data_dir: Path, site: str, machine: str, backend: str) -> Bootstrap:
    """Migrate, load the catalog, make sure the site exists with a token on disk, and a demo user."""
    from django.contrib.auth import get_user_model
    from django.core.management import call_command

    from aifactory.portal.federation.models import Site
    from aifactory.portal.federation.services import catalog_sync, site_create, site_rotate_token
    from aifactory.portal.monitoring.services import objectives_sync
    from aifactory.portal.support.services import centres_sync

    call_command("migrate", interactive=False, verbosity=0)
    catalog_sync()
    centres_sync()
    objectives_sync()
    token_file = data_dir / f"agent-{site}.token"
    existing = Site.objects.filter(name=site).first()
    if existing is None:
        _, token = site_create(name=site, machine_key=machine, backend=backend)
    elif not token_file.exists():
        token = site_rotate_token(site=existing)
    else:
        token = ""
    if token:
        token_file.touch(mode=0o600, exist_ok=True)
        token_file.write_text(token, encoding="utf-8")
    user_model = get_user_model()
    if not user_model.objects.filter(username=DEMO_USER).exists():
        user_model.objects.create_user(username=DEMO_USER, password=DEMO_PASSWORD, email="demo@example.org")
    return Bootstrap(site=site, machine=machine, token_file=token_file)


DEMO_ORGANISATION = "Demo Robotics GmbH"
DEMO_JOBS = ("quick.yaml", "local-train.yaml")


def seed_demo(*, machine: str) -> int | None:
    """The demo login's lived-in account, made once through the same services a person's clicks go through: an
    organisation with its pledges, an approved Playground application and its allocation. Returns the allocation's
    id when made now (its jobs follow once the site has provisioned it: seed_demo_jobs), else None."""
    from decimal import Decimal

    from django.contrib.auth import get_user_model

    from aifactory.portal.access.services import application_submit
    from aifactory.portal.organisations.models import Organisation
    from aifactory.portal.organisations.services import organisation_pledge, organisation_register

    user = get_user_model().objects.get(username=DEMO_USER)
    if Organisation.objects.filter(members=user).exists():
        return None
    org = organisation_register(user=user, name=DEMO_ORGANISATION, country="DE", headcount=12,
                                turnover_eur=Decimal("1800000"), balance_sheet_eur=Decimal("1500000"),
                                sector="robotics")
    organisation_pledge(organisation=org, user=user, pledges=["governance", "ai_literacy"])
    application = application_submit(
        organisation=org, user=user, title="Grasping policies for warehouse robots", machine_key=machine,
        params=1e8, tokens=2e9, gpus=2, requested_gpu_hours=100, months=3, civil_use=True,
        summary="A small vision-language-action model that learns to pick parcels from simulated demonstrations.",
        description="We train on simulated warehouse scenes only and release the model under an open licence.",
    )
    allocation = application.allocations.order_by("pk").first()
    return None if allocation is None else int(allocation.pk)


def seed_demo_jobs(*, allocation_id: int, examples: Path, timeout_s: float = 120.0) -> list[str]:
    """Once the site has created the demo allocation's account, submit the example jobs that run on the default
    set-up, so that the demo login finds finished jobs and charged GPU-hours. Returns the jobs' uids."""
    import time

    from django.contrib.auth import get_user_model
    from django.db import connection

    from aifactory.core.jobspec import parse_spec
    from aifactory.portal.allocations.models import Allocation
    from aifactory.portal.allocations.selectors import allocation_provisioned
    from aifactory.portal.jobs.services import job_submit_spec

    try:
        deadline = time.monotonic() + timeout_s
        allocation = Allocation.objects.get(pk=allocation_id)
        while not allocation_provisioned(allocation):
            if time.monotonic() > deadline:
                return []
            time.sleep(0.5)
        user = get_user_model().objects.get(username=DEMO_USER)
        uids = []
        for name in DEMO_JOBS:
            path = examples / name
            if path.is_file():
                spec = parse_spec(path.read_text(encoding="utf-8"))
                uids.append(str(job_submit_spec(user=user, spec=spec, allocation=allocation).uid))
        return uids
    finally:
        connection.close()
