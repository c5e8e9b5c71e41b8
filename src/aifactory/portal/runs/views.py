from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from aifactory.core.exceptions import InvalidInput
from aifactory.core.jobspec import parse_spec
from aifactory.portal.common.errors import REFUSALS
from aifactory.portal.common.forms import add_refusal
from aifactory.portal.organisations.selectors import organisations_acted_for
from aifactory.portal.runs.forms import RunForm
from aifactory.portal.runs.selectors import run_figures, run_get, runs_of
from aifactory.portal.runs.services import run_cancel, run_create


@login_required
def run_list(request: HttpRequest) -> HttpResponse:
    return render(request, "runs.html", {"runs": runs_of(request.user)[:100]})


@login_required
def run_new(request: HttpRequest) -> HttpResponse:
    organisations = {o.pk: o for o in organisations_acted_for(request.user)}
    if not organisations:
        messages.info(request, "Register your organisation first.")
        return redirect("dashboard")
    form = RunForm(request.POST or None, organisations=[(pk, o.name) for pk, o in organisations.items()])
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            spec = parse_spec(data["spec"])
            run = run_create(user=request.user, spec=spec, steps=data["steps"],
                             checkpoint_every=data["checkpoint_every"], checkpoint_dir=data["checkpoint_dir"],
                             organisation=organisations[data["organisation"]])
        except InvalidInput as exc:
            form.add_error("spec", exc.message)
        except REFUSALS as exc:
            add_refusal(form, exc)
        else:
            return redirect("run-detail", pk=run.pk)
    return render(request, "run_form.html", {"form": form})


@login_required
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    run = run_get(user=request.user, pk=pk)
    return render(request, "run_detail.html", {"run": run, "figures": run_figures(run),
                                               "segments": list(run.segments.all()),
                                               "checkpoints": list(run.checkpoints.all())})


@login_required
@require_POST
def run_cancel_view(request: HttpRequest, pk: int) -> HttpResponse:
    run = run_get(user=request.user, pk=pk)  # another's run: 404
    try:
        run_cancel(run=run, user=request.user)
    except REFUSALS as exc:
        messages.error(request, str(getattr(exc, "message", exc)))
    else:
        messages.success(request, "Run cancelled.")
    return redirect("run-detail", pk=pk)
