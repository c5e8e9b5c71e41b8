from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.contrib.auth import get_user_model
from django.contrib.auth.decorators import login_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.views.decorators.http import require_POST

from aifactory.core.exceptions import CoreError
from aifactory.portal.access.choices import ApplicationState
from aifactory.portal.common.errors import REFUSALS
from aifactory.portal.common.forms import add_refusal
from aifactory.portal.organisations.selectors import is_call_manager
from aifactory.portal.review.choices import CallState
from aifactory.portal.review.forms import CallForm, ConflictForm, OverrideForm, ReasonForm, ReviewerForm, ReviewForm
from aifactory.portal.review.models import Call, Reviewer
from aifactory.portal.review.selectors import (
    assignment_get,
    assignments_of,
    call_get,
    call_managed,
    call_ranking,
    call_summary,
    calls_visible,
    conflicts_found,
    declarations_of,
    declarations_of_call,
    latest_selection,
    proposals_open_to_declare,
    ranking_out,
    reviewer_of,
    routes_of_call,
)
from aifactory.portal.review.services import (
    call_accept,
    call_assign,
    call_close,
    call_open,
    call_select,
    conflict_declare,
    review_submit,
    reviewer_add,
    route_override,
)


def _manager_only(request: HttpRequest) -> None:
    if not is_call_manager(request.user):
        raise PermissionDenied("this page is for call managers")


@login_required
def calls_page(request: HttpRequest) -> HttpResponse:
    return render(request, "calls.html", {
        "calls": calls_visible(request.user), "manager": is_call_manager(request.user), "now": timezone.now(),
    })


@login_required
def call_new(request: HttpRequest) -> HttpResponse:
    _manager_only(request)
    form = CallForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        if data["deadline"] is not None and timezone.is_naive(data["deadline"]):
            data["deadline"] = timezone.make_aware(data["deadline"], timezone.UTC)
        try:
            call = call_open(user=request.user, **data)
        except REFUSALS as exc:
            add_refusal(form, exc)
        else:
            messages.success(request, f"Call {call.title!r} is open.")
            return redirect("call-detail", call_id=call.pk)
    return render(request, "call_form.html", {"form": form})


def _ranking(call: Call) -> dict[str, Any] | None:
    try:
        return ranking_out(call_ranking(call))
    except CoreError:
        return None


@login_required
def call_detail(request: HttpRequest, call_id: int) -> HttpResponse:
    return _call_page(request, call_get(user=request.user, pk=call_id))


def _call_page(request: HttpRequest, call: Call, *, reason_form: ReasonForm | None = None,
               override: tuple[int, OverrideForm] | None = None) -> HttpResponse:
    """The call's page; a refused action shows again with its form and the refusal next to the field."""
    context: dict[str, Any] = {"call": call, "manager": is_call_manager(request.user), "now": timezone.now()}
    if context["manager"]:
        apps = list(call.applications.select_related("organisation", "machine").order_by("pk"))
        routes = list(routes_of_call(call))
        machines = [(b.machine.key, b.machine.name) for b in call.budgets.all()]
        winners = [a for a in apps if a.state == ApplicationState.SELECTED and not a.machine_hours]
        titles = {a.pk: a.title for a in apps}
        ranking = _ranking(call) if call.assignments.filter(review__isnull=False).exists() else None
        selection = latest_selection(call)
        context.update({
            "applications": apps,
            "summary": call_summary(call),
            "assignments": call.assignments.select_related("reviewer", "application", "review"),
            "ranking": None if ranking is None else [(e, titles.get(e["application"], "")) for e in ranking["entries"]],
            "ranking_rules": None if ranking is None else ranking["rules"],
            "selection": selection,
            "optimum_funded": [] if selection is None else [titles.get(i, i) for i in selection.optimum["funded"]],
            "greedy_funded": [] if selection is None else [titles.get(i, i) for i in selection.greedy["funded"]],
            "routes": routes,
            "overrides": [(a, override[1] if override and override[0] == a.pk
                           else OverrideForm(machines=machines, prefix=f"app{a.pk}")) for a in winners]
            if call.state == CallState.SELECTED else [],
            "reason_form": reason_form or ReasonForm(),
            "history": call.history.select_related("actor"),
            "declarations": declarations_of_call(call),
        })
    return render(request, "call_detail.html", context)


ACTIONS = {"close", "assign", "select", "accept"}


@login_required
@require_POST
def call_act(request: HttpRequest, call_id: int, action: str) -> HttpResponse:
    if action not in ACTIONS:
        raise Http404("no such action")
    call = call_managed(user=request.user, pk=call_id)
    form = ReasonForm(request.POST)
    reason = form.cleaned_data["reason"] if form.is_valid() else ""
    try:
        if action == "close":
            call_close(call=call, user=request.user, reason=reason)
            messages.success(request, "The call is closed: review starts.")
        elif action == "assign":
            made = call_assign(call=call, user=request.user)
            messages.success(request, f"{len(made)} reviews assigned.")
        elif action == "select":
            run = call_select(call=call, user=request.user)
            messages.success(request, f"{len(run.funded)} winners selected.")
        else:
            made = call_accept(call=call, user=request.user, reason=reason)
            messages.success(request, f"Winners accepted: {len(made)} allocations and their provisioning orders.")
    except REFUSALS as exc:
        add_refusal(form, exc)
        return _call_page(request, call_get(user=request.user, pk=call.pk), reason_form=form)
    return redirect("call-detail", call_id=call.pk)


@login_required
@require_POST
def route_override_view(request: HttpRequest, call_id: int, app_id: int) -> HttpResponse:
    call = call_managed(user=request.user, pk=call_id)
    app = call.applications.filter(pk=app_id).first()
    if app is None:
        raise Http404("not in this call")
    machines = [(b.machine.key, b.machine.name) for b in call.budgets.all()]
    form = OverrideForm(request.POST, machines=machines, prefix=f"app{app.pk}")
    if form.is_valid():
        try:
            route_override(application=app, user=request.user, machine_key=form.cleaned_data["machine"],
                           reason=form.cleaned_data["reason"])
        except REFUSALS as exc:
            add_refusal(form, exc, aliases={"machine_key": "machine"})
        else:
            messages.success(request, f"Application {app.pk} now goes to {form.cleaned_data['machine']}.")
            return redirect("call-detail", call_id=call.pk)
    return _call_page(request, call, override=(app.pk, form))


@login_required
def reviewers_page(request: HttpRequest) -> HttpResponse:
    _manager_only(request)
    form = ReviewerForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        person = get_user_model().objects.filter(username=data.pop("username")).first()
        if person is None:
            form.add_error("username", "no user with this username: the person signs up first")
        else:
            try:
                reviewer_add(user=request.user, person=person, **data)
            except REFUSALS as exc:
                add_refusal(form, exc)
            else:
                messages.success(request, f"{data['name']} is in the reviewer pool.")
                return redirect("reviewers")
    return render(request, "reviewers.html", {"form": form, "reviewers": Reviewer.objects.select_related("user")})


def _reviews_page(request: HttpRequest, conflict_form: ConflictForm | None = None) -> HttpResponse:
    reviewer = reviewer_of(request.user)
    declared = list(declarations_of(request.user))
    context: dict[str, Any] = {
        "assignments": assignments_of(request.user).select_related("review"), "reviewer": reviewer,
        "declared": declared, "declared_ids": {d.application_id for d in declared},
    }
    if reviewer is not None:
        context["found"] = conflicts_found(reviewer)
        context["conflict_form"] = conflict_form or ConflictForm(proposals=_declarable(declared))
    return render(request, "reviews.html", context)


def _declarable(declared: list[Any]) -> list[tuple[int, str]]:
    taken = {d.application_id for d in declared}
    return [(a.pk, f"{a.title} ({a.organisation.name}, {a.organisation.country}) · {a.call.title if a.call else ''}")
            for a in proposals_open_to_declare() if a.pk not in taken]


@login_required
def reviews_page(request: HttpRequest) -> HttpResponse:
    return _reviews_page(request)


@login_required
@require_POST
def conflict_declare_view(request: HttpRequest) -> HttpResponse:
    if reviewer_of(request.user) is None:
        raise PermissionDenied("only a reviewer in the pool declares conflicts")
    form = ConflictForm(request.POST, proposals=_declarable(list(declarations_of(request.user))))
    if form.is_valid():
        app = proposals_open_to_declare().filter(pk=form.cleaned_data["application"]).first()
        if app is None:
            form.add_error("application", "this proposal is not in an open call or a call in review")
        else:
            try:
                conflict_declare(user=request.user, application=app, reason=form.cleaned_data["reason"])
            except REFUSALS as exc:
                add_refusal(form, exc)
            else:
                messages.success(request, f"Conflict with {app.title!r} declared: you will not be assigned it.")
                return redirect("reviews")
    return _reviews_page(request, form)


@login_required
def review_page(request: HttpRequest, assignment_id: int) -> HttpResponse:
    assignment = assignment_get(user=request.user, pk=assignment_id)
    criteria = list(assignment.call.criteria.all())
    done = getattr(assignment, "review", None)
    form = ReviewForm(request.POST or None, criteria=criteria)
    if request.method == "POST" and done is None and form.is_valid():
        try:
            review_submit(assignment=assignment, user=request.user, marks=form.marks(),
                          comment=form.cleaned_data["comment"])
        except REFUSALS as exc:
            add_refusal(form, exc)
        else:
            messages.success(request, "Review recorded.")
            return redirect("reviews")
    return render(request, "review_form.html", {"assignment": assignment, "app": assignment.application,
                                                "form": form, "done": done})
