from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils.http import url_has_allowed_host_and_scheme

from aifactory.core.catalog import load_catalog
from aifactory.core.exceptions import InvalidInput
from aifactory.core.planner import TrainingPlan, plan_training
from aifactory.portal.common.errors import REFUSALS, refusal_of
from aifactory.portal.common.forms import add_refusal
from aifactory.portal.federation.forms import PLAN_FIELDS, PlanForm, TermsAcceptForm, TermsPublishForm
from aifactory.portal.federation.selectors import (
    current_terms,
    may_publish_terms,
    planned_run,
    site_get,
    terms_acceptance,
    terms_status_of,
)
from aifactory.portal.federation.services import terms_accept, terms_publish


def catalog_page(request: HttpRequest) -> HttpResponse:
    data = load_catalog()
    return render(request, "catalog.html", {"machines": data.machines, "factories": data.factories})


def plan_of(form: PlanForm) -> TrainingPlan | None:
    """The planner's estimate for a bound form, or None with the refusal added next to its field."""
    if not form.is_valid():
        return None
    data = form.cleaned_data
    try:
        return plan_training(data["params"], data["tokens"], gpus=data["gpus"], mfu=data["mfu"],
                             gpu=data["gpu"] or None)
    except InvalidInput as exc:
        form.add_error(exc.field if exc.field in form.fields else None, exc.message.split(": ", 1)[-1])
        return None


def plan_context(query: Mapping[str, str], *, live: list[str] | None = None) -> dict[str, Any]:
    """What _plan_estimate.html shows: the plan, or the fields' refusals, for the values in `query`; with a chosen
    machine, also the run planner's run on it, the figure a request's GPU-hours are checked against."""
    defaults = {name: "" if f.initial is None else str(f.initial) for name, f in PlanForm.base_fields.items()}
    form = PlanForm({**defaults, **{k: query[k] for k in PLAN_FIELDS if k in query}})
    plan = plan_of(form)
    names = live or []
    chosen = query.get("machine", "")
    run = (planned_run(chosen, params=plan.params, tokens=plan.tokens, gpus=plan.gpus)
           if plan is not None and chosen else None)
    return {
        "plan": plan,
        "plan_form": form,
        "plan_errors": [(form.fields[f].label if f in form.fields else "", " ".join(form.errors[f]))
                        for f in form.errors],
        "live_errors": [(f, " ".join(form.errors.get(f, []))) for f in names],
        "chosen_machine": chosen,
        "chosen_run": run if run is not None and run.gpu_hours is not None else None,
    }


def plan_page(request: HttpRequest) -> HttpResponse:
    """The planner as a form: GET, so that it works without JavaScript and its address can be shared."""
    asked = any(k in request.GET for k in PLAN_FIELDS)
    context = plan_context(request.GET)
    form = context["plan_form"] if asked else PlanForm()
    return render(request, "plan.html", {**context, "form": form, "live_fields": list(PLAN_FIELDS)})


def plan_estimate(request: HttpRequest) -> HttpResponse:
    """The estimate alone, for HTMX while the person types; refusals are swapped in next to their fields."""
    live = [f for f in request.GET.get("live", "").split(",") if f in PLAN_FIELDS]
    return render(request, "_plan_estimate.html", plan_context(request.GET, live=live))


# --- terms of use -----------------------------------------------------------------------------------------------------


@login_required
def terms_list(request: HttpRequest) -> HttpResponse:
    return render(request, "terms.html", {"rows": terms_status_of(request.user)})


@login_required
def terms_page(request: HttpRequest, site: str) -> HttpResponse:
    """A site's current terms; the person accepts them here, and staff or the site's operators publish a new
    version."""
    row = site_get(site)
    publisher = may_publish_terms(request.user, row)
    publish_form = TermsPublishForm()
    refusal, status = "", 200
    if request.method == "POST":
        if request.POST.get("publish"):
            publish_form = TermsPublishForm(request.POST)
            if publish_form.is_valid():
                try:
                    terms = terms_publish(site=row, actor=request.user, **publish_form.cleaned_data)
                except REFUSALS as exc:
                    add_refusal(publish_form, exc)
                else:
                    messages.success(request, f"Version {terms.version} of {row.name}'s terms published.")
                    return redirect("site-terms", site=row.name)
            status = 400
        else:
            form = TermsAcceptForm(request.POST)
            if not form.is_valid():
                refusal, status = "version: give the version you read.", 400
            else:
                try:
                    terms_accept(site=row, user=request.user, version=form.cleaned_data["version"])
                except REFUSALS as exc:
                    refused = refusal_of(exc)
                    refusal, status = refused.message.removeprefix("version: "), refused.status
                else:
                    messages.success(request, f"You accepted {row.name}'s terms of use.")
                    nxt = request.GET.get("next") or ""
                    if nxt and url_has_allowed_host_and_scheme(nxt, allowed_hosts={request.get_host()}):
                        return redirect(nxt)
                    return redirect("terms")
    terms = current_terms(row)
    return render(request, "site_terms.html", {
        "site": row, "terms": terms, "accepted": terms_acceptance(request.user, terms) if terms else None,
        "refusal": refusal, "publisher": publisher, "publish_form": publish_form,
    }, status=status)
