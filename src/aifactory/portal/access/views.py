from __future__ import annotations

import csv
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from aifactory.core.exceptions import InvalidInput
from aifactory.core.launch import ACCOUNT_RE, render_launch
from aifactory.core.modes import load_modes
from aifactory.core.sites import load_profiles
from aifactory.portal.access.choices import ApplicationState
from aifactory.portal.access.forms import ApplicationForm, DecisionForm
from aifactory.portal.access.models import Application
from aifactory.portal.access.selectors import application_get, calls, decision_working_days, on_time, stats
from aifactory.portal.access.services import application_decide, application_submit
from aifactory.portal.allocations.selectors import usage_by
from aifactory.portal.common.charts import bar_chart
from aifactory.portal.common.errors import REFUSALS
from aifactory.portal.common.forms import add_refusal
from aifactory.portal.federation.selectors import planned_run
from aifactory.portal.federation.views import plan_context
from aifactory.portal.organisations.selectors import (
    is_call_manager,
    may_see_aggregates,
    organisation_get,
    organisations_acted_for,
)

# The application form's fields the planner reads: its estimate follows them as the applicant types.
APPLICATION_PLAN_FIELDS = ("params", "tokens", "gpus", "gpu")


def _open_calls() -> list[tuple[int, str]]:
    return [(c.pk, f"{c.title} ({c.get_mode_display()}, until {c.deadline:%Y-%m-%d %H:%M} UTC)")
            for c in calls().taking_proposals()]


@login_required
def application_new(request: HttpRequest) -> HttpResponse:
    orgs = [(o.pk, o.name) for o in organisations_acted_for(request.user)]
    if not orgs:
        return redirect("organisation-new")
    initial = {}
    if request.GET.get("call", "").isdigit():
        call = calls().filter(pk=int(request.GET["call"])).first()
        if call is not None:
            initial = {"call": call.pk, "mode": call.mode, "months": call.months, "open_science": call.open_science}
    elif request.GET.get("mode") in load_modes().keys:
        initial = {"mode": request.GET["mode"]}
    elif request.GET.get("from", "").isdigit():
        initial = _resubmission(application_get(user=request.user, pk=int(request.GET["from"])))
    form = ApplicationForm(request.POST or None, organisations=orgs, calls=_open_calls(), initial=initial)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        org = organisation_get(user=request.user, pk=data.pop("organisation"))
        data["machine_key"] = data.pop("machine")
        call_id = data.pop("call")
        data["call"] = None if call_id is None else calls().filter(pk=call_id).first()
        try:
            app = application_submit(organisation=org, user=request.user, **data)
        except REFUSALS as exc:
            add_refusal(form, exc, aliases={"machine_key": "machine"})
        else:
            return redirect("application-detail", app_id=app.pk)
    values = request.POST if request.method == "POST" else {
        name: str(form[name].value() or "") for name in ("params", "tokens", "gpus", "gpu", "machine")
    }
    return render(request, "application_form.html", {
        "form": form, "modes": load_modes().modes, "live_fields": list(APPLICATION_PLAN_FIELDS),
        **plan_context(values),
    })


def _resubmission(app: Application) -> dict[str, Any]:
    """The form filled from an earlier application, to correct what was refused and send it again."""
    return {
        "organisation": app.organisation_id, "mode": app.mode, "call": app.call_id, "title": app.title,
        "summary": app.summary, "description": app.description, "sector": app.sector,
        "keywords": ", ".join(app.keywords), "people": ", ".join(app.people), "machine": app.machine.key,
        "gpu": app.gpu, "machine_hours": "\n".join(f"{k}: {v:g}" for k, v in app.machine_hours.items()),
        "params": f"{app.params:g}", "tokens": f"{app.tokens:g}", "gpus": app.gpus,
        "requested_gpu_hours": f"{app.requested_gpu_hours:g}", "months": app.months, "civil_use": app.civil_use,
        "open_science": app.open_science, "practices": app.practices, "areas": app.areas,
    }


@login_required
def application_detail(request: HttpRequest, app_id: int) -> HttpResponse:
    return _application_page(request, application_get(user=request.user, pk=app_id))


def _application_page(request: HttpRequest, app: Application, decision_form: DecisionForm | None = None) -> (
    HttpResponse
):
    decidable = app.state in (ApplicationState.ETHICS_REVIEW, ApplicationState.TECHNICAL_REVIEW)
    return render(request, "application_detail.html", {
        "app": app, "history": app.history.all(), "routes": app.routes.all(),
        "allocations": app.allocations.select_related("machine").prefetch_related("orders"), "on_time": on_time(app),
        "any_provisioned": any(a.provisioned for a in app.allocations.prefetch_related("orders")),
        "working_days": decision_working_days(app), "mode": load_modes().get(app.mode),
        "flags": app.assessment.get("flags", []),
        "training": _training_summary(app),
        "decision_form": (decision_form or DecisionForm()) if decidable and is_call_manager(request.user) else None,
        "may_resubmit": app.state == ApplicationState.REFUSED
        and app.organisation.members.filter(pk=request.user.pk).exists(),
    })


TRAINING_FILES = ("job.sbatch", "launch.sh", "run.json", "train.py", "job.yaml")


def _training(app: Application) -> tuple[Any, Any]:
    """The application's run planned on its machine, and the launch files (None with the reason when it cannot)."""
    run = planned_run(app.machine.key, params=app.params, tokens=app.tokens, gpus=app.gpus)
    if run is None:
        return None, "the planner has no GPU shape for this machine"
    profile = next((p for p in load_profiles().profiles if p.machine == app.machine.key), None)
    if profile is None:
        return run, f"{app.machine.name} has no site profile"
    try:
        files = render_launch(profile, run, name=f"app-{app.pk}", account=_site_account(app),
                              time_min=_job_minutes(run))
    except InvalidInput as exc:
        return run, exc.message
    return run, files


def _site_account(app: Application) -> str:
    allocation = app.allocations.first()
    account = allocation.account if allocation is not None else ""
    return account if ACCOUNT_RE.match(account or "") else f"project-{app.pk}"


def _job_minutes(run: Any) -> int:
    """One job: the queue's limit where known, else a day."""
    return int(run.queue_limit_hours * 60) if run.queue_limit_hours else 24 * 60


@login_required
def application_training_file(request: HttpRequest, app_id: int, filename: str) -> HttpResponse:
    """One launch file of the application's training run, rendered from its machine's profile and the plan."""
    app = application_get(user=request.user, pk=app_id)
    if filename not in TRAINING_FILES:
        raise Http404("no such file")
    _, files = _training(app)
    if isinstance(files, str):
        return HttpResponse(f"No training run for this application: {files}\n", status=409,
                            content_type="text/plain; charset=utf-8")
    response = HttpResponse(files.files[filename], content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _training_summary(app: Application) -> dict[str, Any]:
    run, files = _training(app)
    return {"run": None if run is None else run.to_dict(), "files": TRAINING_FILES if not isinstance(files, str)
            else (), "why_not": files if isinstance(files, str) else None,
            "checkpoint_dir": None if isinstance(files, str) else files.checkpoint_dir}


@login_required
@require_POST
def application_decide_view(request: HttpRequest, app_id: int) -> HttpResponse:
    app = application_get(user=request.user, pk=app_id)
    if not is_call_manager(request.user):
        raise PermissionDenied("only a call manager decides reviews")
    form = DecisionForm(request.POST)
    if form.is_valid():
        try:
            application_decide(application=app, user=request.user, approve=form.cleaned_data["approve"],
                               reason=form.cleaned_data["reason"])
        except REFUSALS as exc:
            add_refusal(form, exc)
        else:
            messages.success(request, "Decision recorded.")
            return redirect("application-detail", app_id=app.pk)
    return _application_page(request, app, form)


def _observer_only(request: HttpRequest) -> None:
    if not may_see_aggregates(request.user):
        raise PermissionDenied("the aggregates are for observers, call managers and staff")


def figures_tables() -> dict[str, tuple[list[str], list[list[Any]]]]:
    """The observer's figures as tables (header, rows): what the page charts and the CSV downloads hold."""
    modes = load_modes()
    figures = stats()
    by_mode = [
        [m["mode"], m["name"], m["promised"], modes.get(m["mode"]).decision_working_days, m["applications"],
         m["decided"], m["decided_on_time"], m["late"], m["median_working_days_to_decision"],
         round(m["gpu_hours_requested"], 3)]
        for m in figures["modes"]
    ]
    usage = {
        what: [[r["key"], r["allocations"], round(r["gpu_hours_granted"], 3), round(r["gpu_hours_used"], 3)]
               for r in usage_by(field)]
        for what, field in (("machines", "machine__key"), ("sectors", "organisation__sector"))
    }
    return {
        "modes": (["mode", "name", "promised", "promised_working_days", "applications", "decided", "decided_on_time",
                   "late", "median_working_days_to_decision", "gpu_hours_requested"], by_mode),
        "machines": (["machine", "allocations", "gpu_hours_granted", "gpu_hours_used"], usage["machines"]),
        "sectors": (["sector", "allocations", "gpu_hours_granted", "gpu_hours_used"], usage["sectors"]),
    }


@login_required
def stats_page(request: HttpRequest) -> HttpResponse:
    """The federation at a glance for observers: GPU-hours granted and used per machine and per sector,
    applications and decision times per access mode; charts, tables and CSV, aggregates only."""
    _observer_only(request)
    tables = figures_tables()
    _, modes = tables["modes"]
    charts = {
        what: bar_chart([r[0] for r in rows], [("granted", [r[2] for r in rows]), ("used", [r[3] for r in rows])],
                        title=f"GPU-hours granted and used per {what[:-1]}",
                        desc=f"For each {what[:-1]}: GPU-hours granted to allocations and GPU-hours used by jobs.",
                        ident=f"chart-{what}", unit="")
        for what, (_, rows) in tables.items() if what != "modes"
    }
    charts["applications"] = bar_chart(
        [r[1] for r in modes], [("applications", [r[4] for r in modes]), ("decided", [r[5] for r in modes]),
                                ("late", [r[7] for r in modes])],
        title="Applications per access mode", desc="Applications received, decided, and late (past the promised "
        "day) per access mode.", ident="chart-applications")
    charts["decisions"] = bar_chart(
        [r[1] for r in modes], [("promised", [float(r[3] or 0) for r in modes]),
                                ("median actual", [float(r[8] or 0) for r in modes])],
        title="Working days to a decision per access mode", desc="The working days each mode promises (0 where "
        "its call sets the date) and the median working days its decisions took.", ident="chart-decisions")
    return render(request, "stats.html", {
        "stats": stats(), "tables": tables, "charts": charts,
        "usage_labels": ["Machine", "Allocations", "GPU-hours granted", "GPU-hours used"],
        "sector_labels": ["Sector", "Allocations", "GPU-hours granted", "GPU-hours used"],
    })


@login_required
def figures_csv(request: HttpRequest, table: str) -> HttpResponse:
    _observer_only(request)
    tables = figures_tables()
    if table not in tables:
        raise Http404("no such table")
    header, rows = tables[table]
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="aifactory-{table}.csv"'
    writer = csv.writer(response)
    writer.writerow(header)
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    return response
