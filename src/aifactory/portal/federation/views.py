from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from aifactory.core.catalog import load_catalog
from aifactory.core.exceptions import InvalidInput
from aifactory.core.planner import TrainingPlan, plan_training
from aifactory.portal.federation.forms import PLAN_FIELDS, PlanForm


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
    """What _plan_estimate.html shows: the plan, or the fields' refusals, for the values in `query`."""
    defaults = {name: "" if f.initial is None else str(f.initial) for name, f in PlanForm.base_fields.items()}
    form = PlanForm({**defaults, **{k: query[k] for k in PLAN_FIELDS if k in query}})
    plan = plan_of(form)
    names = live or []
    return {
        "plan": plan,
        "plan_form": form,
        "plan_errors": [(form.fields[f].label if f in form.fields else "", " ".join(form.errors[f]))
                        for f in form.errors],
        "live_errors": [(f, " ".join(form.errors.get(f, []))) for f in names],
        "chosen_machine": query.get("machine", ""),
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
