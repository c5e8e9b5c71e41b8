"""Support pages: the centres and one's requests, opening a request, a request's thread, a centre's queue."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from aifactory.portal.common.errors import REFUSALS
from aifactory.portal.common.forms import add_refusal
from aifactory.portal.organisations.selectors import organisation_get, organisations_of
from aifactory.portal.support.forms import BodyForm, ReasonForm, ReassignForm, RequestForm, SlaForm
from aifactory.portal.support.selectors import (
    centre_get,
    centre_queue,
    centres_catalog,
    centres_staffed_by,
    clock_of,
    escalated,
    is_centre_staff,
    is_requester,
    request_get,
    requests_visible,
)
from aifactory.portal.support.services import (
    centre_set_sla,
    request_answer,
    request_ask,
    request_close,
    request_open,
    request_reassign,
    request_reply,
)


@login_required
def support_page(request: HttpRequest) -> HttpResponse:
    rows = [(r, clock_of(r)) for r in requests_visible(request.user)]
    return render(request, "support/support.html", {
        "centres": centres_catalog(), "rows": rows, "staffed": centres_staffed_by(request.user),
        "escalated": escalated(request.user),
    })


@login_required
def request_new(request: HttpRequest) -> HttpResponse:
    orgs = [(o.pk, o.name) for o in organisations_of(request.user)]
    form = RequestForm(request.POST or None, organisations=orgs)
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        try:
            created = request_open(
                user=request.user, organisation=organisation_get(user=request.user, pk=data["organisation"]),
                topic=data["topic"], title=data["title"], text=data["text"], sector=data["sector"],
                machine_key=data["machine"] or None, factory_key=data["factory"] or None)
        except REFUSALS as exc:
            add_refusal(form, exc)
        else:
            messages.success(request, f"Request #{created.pk} went to {created.centre}.")
            return redirect("support-request", pk=created.pk)
    return render(request, "support/request_form.html", {"form": form, "organisations": orgs})


@login_required
def request_page(request: HttpRequest, pk: int) -> HttpResponse:
    row = request_get(user=request.user, pk=pk)
    staff = row.centre is not None and is_centre_staff(request.user, row.centre)
    return render(request, "support/request.html", {
        "r": row, "clock": clock_of(row), "staff": staff, "requester": is_requester(request.user, row),
        "thread": row.messages.select_related("author"), "history": row.history.all(),
        "body_form": BodyForm(), "reason_form": ReasonForm(), "reassign_form": ReassignForm(),
    })


ACTIONS = {"answer": request_answer, "ask": request_ask, "reply": request_reply}


@login_required
@require_POST
def request_act(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    """One action on a request's thread; a refusal goes back to the request's page as a message."""
    row = request_get(user=request.user, pk=pk)
    if action in ACTIONS:
        form: BodyForm | ReasonForm | ReassignForm = BodyForm(request.POST)
        if form.is_valid():
            ACTIONS[action](request=row, user=request.user, body=form.cleaned_data["body"])
    elif action == "close":
        form = ReasonForm(request.POST)
        if form.is_valid():
            request_close(request=row, user=request.user, reason=form.cleaned_data["reason"])
    elif action == "reassign":
        form = ReassignForm(request.POST)
        if form.is_valid():
            request_reassign(request=row, user=request.user, centre_key=form.cleaned_data["centre"],
                             reason=form.cleaned_data["reason"])
    else:
        messages.error(request, f"unknown action {action!r}")
        return redirect("support-request", pk=pk)
    if not form.is_valid():
        messages.error(request, "; ".join(f"{k}: {' '.join(v)}" for k, v in form.errors.items()))
    else:
        messages.success(request, f"Done: {action}.")
    return redirect("support-request", pk=pk)


@login_required
def centre_page(request: HttpRequest, key: str) -> HttpResponse:
    centre = centre_get(user=request.user, key=key)
    form = SlaForm(request.POST or None, initial={"days": centre.first_answer_working_days})
    if request.method == "POST" and form.is_valid():
        try:
            centre_set_sla(centre=centre, user=request.user, days=form.cleaned_data["days"])
        except REFUSALS as exc:
            add_refusal(form, exc)
        else:
            messages.success(request, "Service level saved.")
            return redirect("support-centre", key=key)
    return render(request, "support/centre.html", {"centre": centre, "queue": centre_queue(centre), "form": form})
