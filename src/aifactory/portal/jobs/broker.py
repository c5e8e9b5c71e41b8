"""Where a job can go and where it goes: the portal's side of the broker (reads only; services.py writes).

A candidate is one (allocation, site) pair: an allocation of the job's organisation and a site that serves the
allocation's machine. The portal's own rules come first, for each pair (the first that fails is its reason):

    1. the allocation's account is provisioned at the site;
    2. the allocation is in force today (starts_on <= today <= ends_on);
    3. the job has not left this site before (a job never goes back to a site it moved away from, so that a site's
       scheduler holds at most one copy of a uid);
    4. a job that sets its layout (GPUs per node, nodes) fits the machine's nodes;
    5. the person who submitted the job has accepted the site's current terms of use ("accept the terms of use of
       <site> version N"): a new version makes the site take none of their jobs, new or moving, until they accept it;
    6. at a site that runs jobs under personal accounts, the person's account for the allocation's project is active.

The pairs left are handed to the core's placement (aifactory.core.placement.place, the same code the simulator
runs) as MachineViews: the site's agent alive (a heartbeat within AGENT_STALE_AFTER_S), the machine's GPU model,
memory, shape and speed, the queue wait the agent last reported, the GPU-hours the allocation has left after
its usage and the time limits of its unfinished jobs, and the machine's size limit. Placement picks the earliest
expected completion among the machines whose size interval takes the job.

Size limits (`size_limits_by_machine`): aifactory.core.placement.size_limits over the machines that have a site,
from the jobs submitted in the last SIZE_HISTORY_DAYS days, each counted as its GPUs x its time limit (the figure
every job has; a spec's optional estimate is not kept apart). Until aifactory.core.placement.SIZE_LIMITS_MIN_JOBS
(100) jobs have been submitted in that window there are no limits, and the choice is the earliest expected
completion over all the pairs. Reading 90 days of jobs grows with the history, so each worker process keeps the
limits it computed for SIZE_LIMITS_TTL_S seconds (settings; 60 by default): a limit is at most that stale, which
is harmless for a figure drawn from three months of jobs, and a submission's cost no longer depends on how many
jobs came before it (`size_limits_forget` drops the copy).

When no site that could take the job is reporting, but some would once their agent reports again, the job is held:
placed on the best of those, as the core would place it if their agents were alive. The failover service moves it
as soon as another site that can take it reports.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Count
from django.utils import timezone

from aifactory.core.exceptions import NoPlacement
from aifactory.core.placement import (
    JobRequest,
    MachineView,
    place,
    rejection,
    size_limits,
    speed_from_peak,
    work_by_size,
)
from aifactory.portal.allocations.choices import OrderState
from aifactory.portal.allocations.models import Allocation, ProvisioningOrder
from aifactory.portal.allocations.selectors import gpu_seconds_left
from aifactory.portal.federation.models import Machine, Site
from aifactory.portal.federation.selectors import site_alive, terms_refusal, with_terms_of
from aifactory.portal.jobs.models import Job
from aifactory.portal.siteaccess.selectors import active_account_pairs

SIZE_HISTORY_DAYS = 90
"""The size limits come from the jobs submitted in this many days before now."""


@dataclass(frozen=True)
class Layout:
    """The job's layout when it sets one (a job spec); None for a job that gives only its GPU count."""

    gpus_per_node: int
    nodes: int


@dataclass(frozen=True)
class Candidate:
    allocation: Allocation
    site: Site
    refused: str | None
    """The portal rule that refused the pair, or None when it goes on to the core's placement."""

    @property
    def key(self) -> str:
        return f"{self.allocation.account}@{self.site.name}"


@dataclass(frozen=True)
class Decision:
    allocation: Allocation
    site: Site
    held: bool
    expected_start_at: datetime
    expected_end_at: datetime
    reasons: list[dict[str, Any]]


def candidates(allocations: list[Allocation], *, layout: Layout | None, left_sites: set[int],
               user_id: int | None = None) -> list[Candidate]:
    """Every (allocation, site) pair of the allocations' machines, in order, each with the portal rule that refuses
    it or None. The pair needs `user_id` to have accepted the site's current terms of use and, at a site that runs
    jobs under personal accounts, `user_id`'s account there to be active."""
    today = timezone.localdate()
    orders = {
        (o.allocation_id, o.site_id): o.state
        for o in ProvisioningOrder.objects.filter(allocation__in=allocations).only("allocation_id", "site_id", "state")
    }
    sites_by_machine: dict[int, list[Site]] = {}
    site_rows = Site.objects.select_related("machine").filter(machine__in={a.machine_id for a in allocations})
    if user_id is not None:
        site_rows = with_terms_of(site_rows, user_id)
    for site in site_rows:
        sites_by_machine.setdefault(site.machine_id, []).append(site)
    personal: set[tuple[int, int]] = set()
    if user_id is not None and any(s.personal_accounts for sites in sites_by_machine.values() for s in sites):
        personal = active_account_pairs(user_id, [a.pk for a in allocations])
    out: list[Candidate] = []
    for allocation in allocations:
        for site in sorted(sites_by_machine.get(allocation.machine_id, []), key=lambda s: s.pk):
            rule = _portal_rule(allocation, site, orders, today, layout, left_sites)
            version = getattr(site, "terms_version", None)
            if rule is None and version is not None and not site.terms_accepted:
                rule = terms_refusal(site.name, version)
            if rule is None and site.personal_accounts and (allocation.pk, site.pk) not in personal:
                rule = ("your own account at this site is not open yet: the site's agent creates it once you are a "
                        "member of the project and have accepted the site's terms of use")
            out.append(Candidate(allocation, site, rule))
    return out


def _portal_rule(allocation: Allocation, site: Site, orders: dict[tuple[int, int], str], today: Any,
                 layout: Layout | None, left_sites: set[int]) -> str | None:
    state = orders.get((allocation.pk, site.pk))
    if state != OrderState.DONE:
        return "the account failed to be provisioned at this site" if state == OrderState.FAILED else \
            "the account is not provisioned at this site yet"
    if today < allocation.starts_on:
        return f"the allocation starts on {allocation.starts_on.isoformat()}"
    if today > allocation.ends_on:
        return f"the allocation ended on {allocation.ends_on.isoformat()}"
    if site.pk in left_sites:
        return "the job moved away from this site before"
    machine = site.machine
    if layout is not None and machine.gpus_per_node is not None:
        if layout.gpus_per_node > machine.gpus_per_node:
            return f"job asks for {layout.gpus_per_node} GPUs per node, the machine has {machine.gpus_per_node}"
        if machine.total_gpus is not None and layout.nodes > machine.total_gpus // machine.gpus_per_node:
            return f"job asks for {layout.nodes} nodes, the machine has {machine.total_gpus // machine.gpus_per_node}"
    return None


_size_limits_cache: tuple[float, dict[int, float]] | None = None


def size_limits_forget() -> None:
    """Drop this process's copy of the size limits: the next submission computes them again."""
    global _size_limits_cache
    _size_limits_cache = None


def size_limits_by_machine() -> dict[int, float]:
    """The size limit of each machine that has a site, by machine pk (module docstring); infinity for none. At most
    SIZE_LIMITS_TTL_S seconds old."""
    global _size_limits_cache
    now = time.monotonic()
    if _size_limits_cache is not None and now - _size_limits_cache[0] < settings.SIZE_LIMITS_TTL_S:
        return _size_limits_cache[1]
    limits = _size_limits_now()
    _size_limits_cache = (now, limits)
    return limits


def _size_limits_now() -> dict[int, float]:
    machines = list(Machine.objects.filter(sites__isnull=False).distinct().order_by("pk"))
    since = timezone.now() - timedelta(days=SIZE_HISTORY_DAYS)
    rows = list(Job.objects.filter(created_at__gte=since).order_by().values("gpus", "time_limit_s")
                .annotate(n=Count("pk")).values_list("gpus", "time_limit_s", "n"))
    work = work_by_size((gpus * n, float(limit_s)) for gpus, limit_s, n in rows)  # n jobs alike: n times the GPUs
    jobs = sum(n for _, _, n in rows)
    capacities: list[float | None] = []
    for m in machines:
        speed = speed_from_peak(m.peak_bf16_tflops)
        capacities.append(m.total_gpus * speed if m.total_gpus and speed else None)
    return dict(zip([m.pk for m in machines], size_limits(capacities, work, jobs), strict=True))


def view(candidate: Candidate, credit: dict[int, float] | None = None,
         limits: dict[int, float] | None = None) -> MachineView:
    """The pair as the core's placement sees it. `credit` adds GPU-seconds back to allocations' hours left (a job
    that moves no longer needs its reservation where it was); `limits` are the machines' size limits
    (`size_limits_by_machine`)."""
    machine = candidate.site.machine
    limit = (limits or {}).get(machine.pk, math.inf)
    left_s = gpu_seconds_left(candidate.allocation) + (credit or {}).get(candidate.allocation.pk, 0.0)
    return MachineView(
        key=candidate.key,
        gpu_model=machine.gpu_model or None,
        gpu_memory_gb=machine.gpu_memory_gb,
        gpus_per_node=machine.gpus_per_node,
        total_gpus=machine.total_gpus,
        speed=speed_from_peak(machine.peak_bf16_tflops),
        expected_wait_s=max(float(candidate.site.queue_wait_s), 0.0),
        alive=site_alive(candidate.site),
        gpu_hours_left=left_s / 3600.0,
        size_limit_s=limit if math.isfinite(limit) else None,
    )


def _row(candidate: Candidate, reason: str, chosen: bool) -> dict[str, Any]:
    return {"site": candidate.site.name, "machine": candidate.site.machine.key, "account": candidate.allocation.account,
            "reason": reason, "chosen": chosen}


def decide(job: JobRequest, pairs: list[Candidate], *, credit: dict[int, float] | None = None,
           hold: bool = True) -> Decision:
    """The core's placement over the pairs the portal's rules leave; NoPlacement with a reason for every pair.

    With `hold`, a job that only sites whose agent is not reporting could take is placed on the best of those."""
    open_pairs = [c for c in pairs if c.refused is None]
    limits = size_limits_by_machine() if open_pairs else {}
    views = [view(c, credit, limits) for c in open_pairs]
    now = time.time()
    held = False
    try:
        placement = place(job, views, now=now)
        reasons = dict(placement.reasons)
    except NoPlacement as exc:
        reasons = dict(exc.reasons)
        waiting = [replace(v, alive=True) for v in views if not v.alive]
        waiting = [v for v in waiting if rejection(job, v) is None]
        if not waiting or not hold:
            raise NoPlacement({c.key: c.refused or reasons.get(c.key, "not considered") for c in pairs}) from None
        placement = place(job, waiting, now=now)
        held = True
        for key, why in placement.reasons.items():
            reasons[key] = f"held: no site that can take the job is reporting; {why}"
    chosen = next(c for c in open_pairs if c.key == placement.machine)
    rows = [_row(c, c.refused or reasons.get(c.key, "not considered"), c.key == placement.machine) for c in pairs]
    return Decision(
        allocation=chosen.allocation, site=chosen.site, held=held,
        expected_start_at=datetime.fromtimestamp(placement.expected_start_s, tz=UTC),
        expected_end_at=datetime.fromtimestamp(placement.expected_end_s, tz=UTC),
        reasons=rows,
    )


def reasons_of(exc: NoPlacement, pairs: list[Candidate]) -> list[dict[str, Any]]:
    """A NoPlacement from `decide` as rows, one per pair."""
    by_key = {c.key: c for c in pairs}
    return [_row(by_key[k], why, False) if k in by_key else {"site": k, "reason": why, "chosen": False}
            for k, why in exc.reasons.items()]
