from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from aifactory.core.exceptions import InvalidInput
from aifactory.core.jobspec import parse_spec
from aifactory.portal.allocations.selectors import allocations_acted_for
from aifactory.portal.common.errors import REFUSALS, refusal_of
from aifactory.portal.common.forms import add_refusal
from aifactory.portal.jobs.forms import JobForm, JobSpecForm
from aifactory.portal.jobs.selectors import job_get, job_history, jobs_of
from aifactory.portal.jobs.services import job_cancel, job_submit, job_submit_spec
from aifactory.portal.organisations.selectors import organisations_acted_for


@login_required
def job_new(request: HttpRequest) -> HttpResponse:
    allocations = {a.pk: a for a in allocations_acted_for(request.user)}
    if not allocations:
        messages.info(request, "Apply for an allocation first.")
        return redirect("dashboard")
    form = JobForm(request.POST or None, allocations=[(pk, str(a)) for pk, a in allocations.items()])
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            job = job_submit(user=request.user, allocation=allocations[data.pop("allocation")], **data)
        except REFUSALS as exc:
            add_refusal(form, exc)
        else:
            return redirect("job-detail", uid=job.uid)
    return render(request, "job_form.html", {"form": form})


@login_required
def job_new_spec(request: HttpRequest) -> HttpResponse:
    """A job spec for one of the user's organisations; the broker places it."""
    organisations = {o.pk: o for o in organisations_acted_for(request.user)}
    if not organisations:
        messages.info(request, "Register your organisation first.")
        return redirect("dashboard")
    form = JobSpecForm(request.POST or None, organisations=[(pk, o.name) for pk, o in organisations.items()])
    reasons: list[dict[str, object]] = []
    if request.method == "POST" and form.is_valid():
        try:
            spec = parse_spec(form.cleaned_data["spec"])
            job = job_submit_spec(user=request.user, spec=spec,
                                  organisation=organisations[form.cleaned_data["organisation"]])
        except InvalidInput as exc:
            form.add_error("spec", exc.message)
        except REFUSALS as exc:
            refusal = refusal_of(exc)
            if isinstance(refusal.detail, dict) and isinstance(refusal.detail.get("reasons"), list):
                reasons = refusal.detail["reasons"]
            add_refusal(form, refusal)
        else:
            return redirect("job-detail", uid=job.uid)
    return render(request, "job_spec_form.html", {"form": form, "reasons": reasons})


@login_required
def job_detail(request: HttpRequest, uid: str) -> HttpResponse:
    job = job_get(user=request.user, uid=uid)
    template = "_job_live.html" if request.headers.get("HX-Request") else "job_detail.html"
    return render(request, template, {"job": job, "history": job_history(job)})


@login_required
def jobs_table(request: HttpRequest) -> HttpResponse:
    return render(request, "_jobs_table.html", {"jobs": jobs_of(request.user)[:50]})


@login_required
@require_POST
def job_cancel_view(request: HttpRequest, uid: str) -> HttpResponse:
    try:
        job_cancel(job=job_get(user=request.user, uid=uid), user=request.user)
    except REFUSALS as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, "Cancellation requested.")
    return redirect("job-detail", uid=uid)
