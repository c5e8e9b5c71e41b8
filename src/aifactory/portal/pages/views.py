"""Pages that gather several apps: each reads through the apps' selectors and writes through their services."""

from __future__ import annotations

import csv
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from aifactory.portal.access.forms import ApplicationForm
from aifactory.portal.access.selectors import applications_of, on_time
from aifactory.portal.allocations.selectors import (
    allocation_get,
    allocation_provisioned,
    allocations_acted_for,
    allocations_on_factories,
    gpu_seconds_left,
    gpu_seconds_reserved,
    orders_pending_at,
)
from aifactory.portal.allocations.views import burndown_chart, usage_chart
from aifactory.portal.federation.selectors import site_health, sites_of_factories
from aifactory.portal.jobs.forms import JobForm
from aifactory.portal.jobs.selectors import jobs_of, jobs_queued_at, usage_history
from aifactory.portal.organisations.forms import OrganisationForm, PledgeForm
from aifactory.portal.organisations.models import Organisation
from aifactory.portal.organisations.selectors import (
    operator_factories,
    organisation_eligibility,
    organisation_get,
    organisations_of,
    roles_of,
    team_members,
)
from aifactory.portal.organisations.services import organisation_pledge


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")


def dashboard_context(request: HttpRequest) -> dict[str, object]:
    orgs = list(organisations_of(request.user).filter(members=request.user).prefetch_related("pledges"))
    allocations = list(allocations_acted_for(request.user).prefetch_related("orders"))
    return {
        "organisations": [(o, organisation_eligibility(o)) for o in orgs],
        "applications": [(a, on_time(a)) for a in applications_of(request.user).filter(
            organisation__members=request.user).prefetch_related("allocations")[:50]],
        "allocations": allocations,
        "any_provisioned": any(a.provisioned for a in allocations),
        "jobs": jobs_of(request.user)[:50],
        "org_form": OrganisationForm(),
        "pledge_form": PledgeForm(),
        "application_form": ApplicationForm(organisations=[(o.pk, o.name) for o in orgs]) if orgs else None,
        "job_form": JobForm(allocations=[(a.pk, str(a)) for a in allocations]) if allocations else None,
        "roles": sorted(roles_of(request.user)),
        "factories": operator_factories(request.user),
        "reviewer": hasattr(request.user, "reviewer"),
    }


@login_required
def dashboard(request: HttpRequest) -> HttpResponse:
    return render(request, "dashboard.html", dashboard_context(request))


def _organisation_page(request: HttpRequest, org: Organisation, pledge_form: PledgeForm) -> HttpResponse:
    apps = applications_of(request.user).filter(organisation=org).prefetch_related("allocations")
    return render(request, "organisation_detail.html", {
        "org": org, "eligibility": organisation_eligibility(org), "pledge_form": pledge_form,
        "pledged": org.pledges.all(), "related": org.related_enterprises.all(), "members": team_members(org),
        "applications": [(a, on_time(a)) for a in apps[:100]],
    })


@login_required
def organisation_detail(request: HttpRequest, org_id: int) -> HttpResponse:
    org = organisation_get(user=request.user, pk=org_id)
    return _organisation_page(request, org, PledgeForm())


@login_required
@require_POST
def organisation_pledges(request: HttpRequest, org_id: int) -> HttpResponse:
    org = organisation_get(user=request.user, pk=org_id)
    form = PledgeForm(request.POST)
    if not form.is_valid():
        form.errors["pledges"] = form.error_class(["Choose at least one pledge to record."])
        return _organisation_page(request, org, form)
    organisation_pledge(organisation=org, user=request.user, pledges=form.cleaned_data["pledges"])
    messages.success(request, "AI Pact pledges recorded.")
    if request.POST.get("back") == "profile":
        return redirect("organisation-detail", org_id=org.pk)
    return redirect("dashboard")


@login_required
def allocation_detail(request: HttpRequest, allocation_id: int) -> HttpResponse:
    allocation = allocation_get(user=request.user, pk=allocation_id)
    events = usage_history(allocation)
    now = timezone.now()
    return render(request, "allocation_detail.html", {
        "allocation": allocation, "events": events[-200:], "charges": len(events),
        "burndown": burndown_chart(allocation, events, now), "usage": usage_chart(allocation, events, now),
        "reserved_hours": gpu_seconds_reserved(allocation) / 3600, "left_hours": gpu_seconds_left(allocation) / 3600,
        "provisioned": allocation_provisioned(allocation),
        "orders": allocation.orders.select_related("site"),
        "jobs": allocation.jobs.select_related("site").order_by("-created_at")[:50],
        "notices": allocation.notices.all(),
    })


@login_required
def allocation_usage_csv(request: HttpRequest, allocation_id: int) -> HttpResponse:
    allocation = allocation_get(user=request.user, pk=allocation_id)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{allocation.account}-usage.csv"'
    writer = csv.writer(response)
    writer.writerow(["charged_at", "job_uid", "job_name", "gpu_seconds", "gpu_hours_used", "gpu_hours_left"])
    for e in usage_history(allocation):
        writer.writerow([e.at.isoformat(), e.job_uid, e.job_name, f"{e.gpu_seconds:.3f}", f"{e.used_hours:.6f}",
                         f"{e.left_hours:.6f}"])
    return response


def _operator_factories(request: HttpRequest) -> list[str]:
    factories = operator_factories(request.user)
    if not factories:
        raise PermissionDenied("this page is for factory operators")
    return factories


def _operator_live(factories: list[str]) -> dict[str, Any]:
    sites = list(sites_of_factories(factories))
    return {
        "factories": factories, "now": timezone.now(),
        "sites": [site_health(s) for s in sites],
        "orders": orders_pending_at(sites)[:200],
        "queue": jobs_queued_at(sites)[:200],
    }


@login_required
def operator_page(request: HttpRequest) -> HttpResponse:
    """A factory operator's page: the agents of their sites, pending provisioning orders, the queue, and the
    allocations on their machines."""
    factories = _operator_factories(request)
    allocations = allocations_on_factories(factories)
    return render(request, "operator.html", {**_operator_live(factories), "allocations": allocations})


@login_required
def operator_live(request: HttpRequest) -> HttpResponse:
    """The live part of the operator's page (agents, orders, queue), fetched again every few seconds."""
    return render(request, "_operator_live.html", _operator_live(_operator_factories(request)))
