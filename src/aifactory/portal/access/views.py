from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from aifactory.core.modes import load_modes
from aifactory.portal.access.choices import ApplicationState
from aifactory.portal.access.forms import ApplicationForm, DecisionForm
from aifactory.portal.access.selectors import application_get, decision_working_days, on_time, stats
from aifactory.portal.access.services import application_decide, application_submit
from aifactory.portal.allocations.models import Allocation
from aifactory.portal.common.errors import PortalError
from aifactory.portal.common.forms import add_portal_error
from aifactory.portal.federation.views import plan_context
from aifactory.portal.organisations.selectors import (
    is_call_manager,
    may_see_aggregates,
    operator_factories,
    organisation_get,
    organisations_of,
)

# The application form's fields the planner reads: its estimate follows them as the applicant types.
APPLICATION_PLAN_FIELDS = ("params", "tokens", "gpus", "gpu")


def _open_calls() -> list[tuple[int, str]]:
    from aifactory.portal.review.models import Call

    calls = Call.objects.filter(state="open", deadline__gt=timezone.now()).order_by("deadline")
    return [(c.pk, f"{c.title} ({c.get_mode_display()}, until {c.deadline:%Y-%m-%d %H:%M} UTC)") for c in calls]


@login_required
def application_new(request: HttpRequest) -> HttpResponse:
    orgs = [(o.pk, o.name) for o in organisations_of(request.user).filter(members=request.user)]
    if not orgs:
        return redirect("organisation-new")
    initial = {}
    if request.GET.get("call", "").isdigit():
        from aifactory.portal.review.models import Call

        call = Call.objects.filter(pk=int(request.GET["call"])).first()
        if call is not None:
            initial = {"call": call.pk, "mode": call.mode, "months": call.months, "open_science": call.open_science}
    elif request.GET.get("mode") in load_modes().keys:
        initial = {"mode": request.GET["mode"]}
    form = ApplicationForm(request.POST or None, organisations=orgs, calls=_open_calls(), initial=initial)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        org = organisation_get(user=request.user, pk=data.pop("organisation"))
        data["machine_key"] = data.pop("machine")
        call_id = data.pop("call")
        from aifactory.portal.review.models import Call

        data["call"] = None if call_id is None else Call.objects.filter(pk=call_id).first()
        try:
            app = application_submit(organisation=org, user=request.user, **data)
        except PortalError as exc:
            add_portal_error(form, exc, aliases={"machine_key": "machine"})
        else:
            return redirect("application-detail", app_id=app.pk)
    values = request.POST if request.method == "POST" else {
        name: str(form[name].value() or "") for name in ("params", "tokens", "gpus", "gpu", "machine")
    }
    return render(request, "application_form.html", {
        "form": form, "modes": load_modes().modes, "live_fields": list(APPLICATION_PLAN_FIELDS),
        **plan_context(values),
    })


@login_required
def application_detail(request: HttpRequest, app_id: int) -> HttpResponse:
    app = application_get(user=request.user, pk=app_id)
    decidable = app.state in (ApplicationState.ETHICS_REVIEW, ApplicationState.TECHNICAL_REVIEW)
    return render(request, "application_detail.html", {
        "app": app, "history": app.history.all(), "routes": app.routes.all(),
        "allocations": app.allocations.select_related("machine"), "on_time": on_time(app),
        "working_days": decision_working_days(app), "mode": load_modes().get(app.mode),
        "flags": app.assessment.get("flags", []),
        "decision_form": DecisionForm() if decidable and is_call_manager(request.user) else None,
    })


@login_required
@require_POST
def application_decide_view(request: HttpRequest, app_id: int) -> HttpResponse:
    app = application_get(user=request.user, pk=app_id)
    if not is_call_manager(request.user):
        raise PermissionDenied("only a call manager decides reviews")
    form = DecisionForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose approve or refuse and give the reason.")
        return redirect("application-detail", app_id=app.pk)
    try:
        application_decide(application=app, user=request.user, approve=form.cleaned_data["approve"],
                           reason=form.cleaned_data["reason"])
    except PortalError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Decision recorded.")
    return redirect("application-detail", app_id=app.pk)


@login_required
def stats_page(request: HttpRequest) -> HttpResponse:
    if not may_see_aggregates(request.user):
        raise PermissionDenied("the aggregates are for observers, call managers and staff")
    return render(request, "stats.html", {"stats": stats()})


@login_required
def operator_page(request: HttpRequest) -> HttpResponse:
    factories = operator_factories(request.user)
    if not factories:
        raise PermissionDenied("this page is for factory operators")
    allocations = Allocation.objects.select_related("machine", "organisation", "application").filter(
        machine__factory__in=factories
    )
    return render(request, "operator.html", {"factories": factories, "allocations": allocations})
