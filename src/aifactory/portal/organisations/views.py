from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from aifactory.portal.access.forms import ApplicationForm
from aifactory.portal.access.selectors import applications_of, on_time
from aifactory.portal.allocations.selectors import allocations_of
from aifactory.portal.common.errors import REFUSALS
from aifactory.portal.common.forms import add_refusal
from aifactory.portal.jobs.forms import JobForm
from aifactory.portal.jobs.selectors import jobs_of
from aifactory.portal.organisations.forms import OrganisationForm, PledgeForm, SignupForm
from aifactory.portal.organisations.models import Organisation
from aifactory.portal.organisations.selectors import (
    operator_factories,
    organisation_eligibility,
    organisation_get,
    organisations_of,
    roles_of,
)
from aifactory.portal.organisations.services import organisation_pledge, organisation_register, user_signup


def home(request: HttpRequest) -> HttpResponse:
    return render(request, "home.html")


def signup(request: HttpRequest) -> HttpResponse:
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = user_signup(**form.cleaned_data)
        except REFUSALS as exc:
            add_refusal(form, exc)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("dashboard")
    return render(request, "signup.html", {"form": form})


def dashboard_context(request: HttpRequest) -> dict[str, object]:
    orgs = list(organisations_of(request.user).filter(members=request.user).prefetch_related("pledges"))
    allocations = list(allocations_of(request.user).filter(organisation__members=request.user))
    return {
        "organisations": [(o, organisation_eligibility(o)) for o in orgs],
        "applications": [(a, on_time(a)) for a in applications_of(request.user).filter(
            organisation__members=request.user).prefetch_related("allocations")[:50]],
        "allocations": allocations,
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


@login_required
def organisation_new(request: HttpRequest) -> HttpResponse:
    form = OrganisationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            org = organisation_register(user=request.user, **form.cleaned_data)
        except REFUSALS as exc:
            add_refusal(form, exc)
        else:
            messages.success(request, f"{org.name} registered ({org.get_sme_category_display()}).")
            return redirect("dashboard")
    return render(request, "organisation_form.html", {"form": form})


def _organisation_page(request: HttpRequest, org: Organisation, pledge_form: PledgeForm) -> HttpResponse:
    apps = applications_of(request.user).filter(organisation=org).prefetch_related("allocations")
    return render(request, "organisation_detail.html", {
        "org": org, "eligibility": organisation_eligibility(org), "pledge_form": pledge_form,
        "pledged": org.pledges.all(), "related": org.related_enterprises.all(), "members": org.members.all(),
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
