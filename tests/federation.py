"""A small federation for the broker's tests: one organisation holding allocations on two machines, one site each.

    leonardo-a   Leonardo (A100 64 GB, 4 per node, speed 1.0)   allocation aif-p<N>          100 GPU-hours
    jupiter-a    JUPITER  (GH200 96 GB, 4 per node, speed 3.17)  allocation aif-p<N>-jupiter  100 GPU-hours

Both sites have reported just now (alive) with no queue wait, unless a test says otherwise.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from aifactory.core.jobspec import spec_from_dict
from aifactory.portal.allocations.models import Allocation
from aifactory.portal.federation.models import Site
from aifactory.portal.jobs.models import Job
from aifactory.portal.jobs.services import job_submit_spec
from aifactory.portal.organisations.models import Organisation
from tests.conftest import AllocationFactory, ApplicationFactory, SiteWithToken, machine


@dataclass
class Federation:
    organisation: Organisation
    user: Any
    leonardo: SiteWithToken
    jupiter: SiteWithToken
    on_leonardo: Allocation
    on_jupiter: Allocation

    def alive(self, *sites: SiteWithToken, wait_s: float = 0.0) -> None:
        for s in sites or (self.leonardo, self.jupiter):
            Site.objects.filter(pk=s.site.pk).update(last_seen_at=timezone.now(), queue_wait_s=wait_s)

    def lost(self, *sites: SiteWithToken) -> None:
        """The sites' agents last reported longer ago than AGENT_STALE_AFTER_S."""
        long_ago = timezone.now() - timedelta(seconds=settings.AGENT_STALE_AFTER_S + 60)
        for s in sites:
            Site.objects.filter(pk=s.site.pk).update(last_seen_at=long_ago)

    def submit(self, **resources: Any) -> Job:
        spec = spec_from_dict(job_spec(**resources))
        return job_submit_spec(user=self.user, spec=spec, organisation=self.organisation)


def job_spec(name: str = "train", commands: list[str] | None = None, **resources: Any) -> dict[str, Any]:
    return {"name": name, "resources": {"time_limit": 600, **resources}, "commands": commands or ["echo hello"]}


def make_federation(make_site: Any, site: SiteWithToken, organisation: Organisation, user: Any) -> Federation:
    jupiter = make_site(name="jupiter-a", machine_key="jupiter")
    app = ApplicationFactory(organisation=organisation, submitted_by=user)
    on_leonardo = AllocationFactory(application=app)
    on_jupiter = AllocationFactory(application=app, machine=machine("jupiter"),
                                   account=f"{settings.ACCOUNT_PREFIX}-p{app.pk}-jupiter")
    fed = Federation(organisation, user, site, jupiter, on_leonardo, on_jupiter)
    fed.alive()
    return fed
