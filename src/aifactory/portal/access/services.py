"""Writes of the access context: applications through the gate and the technical assessment, decisions, routing
and acceptance.

Who moves an application, and when (the table of allowed moves is choices.APPLICATION_TRANSITIONS):
    submitted -> refused             the gate refuses: not established in an eligible country, not for civil use,
                                     or an AI Act Article 5 practice
    submitted -> ethics_review       an Annex III area is named, or the text screening (core/aiact_text.py) finds
                                     that the title, summary or description may describe an Article 5 practice or
                                     an Annex III use: a call manager decides (application_decide), seeing the
                                     passages that triggered it, as the applicant does
    -> technical_review              Fast Lane: the technical assessment flagged the request (over- or under-request,
                                     a run longer than the allocation) or no machine can take it: a call manager
                                     decides
    -> in_review                     a call's proposal waits for peer review and selection (review.services)
    -> approved                      Playground at once, on the machine asked for; Fast Lane once routed
    in_review -> selected | not_selected   the call's selection (review.services)
    selected -> approved             acceptance (application_accept): allocations and provisioning orders
Every move is a StateChange row (who, when, from, to, why); the first decision's time is `decided_at`, and
`promised_by` is the day the mode (or the call) promises it by.

Malformed or inconsistent input (unknown mode, call or machine, GPU-hours outside the mode's limits, a plan that
does not fit the GPU, a machine that does not offer the GPU asked for) is refused with the field named before
anything is stored. So are a project not declared for civil use (`civil_use`: the box is a condition of applying,
not a verdict to keep) and, in a mode decided at once (Playground), a plan whose estimate on the machine needs more
GPU-hours than asked for beyond the assessment's tolerance (`requested_gpu_hours`: the run would not finish).
An application that reaches the gate is stored as sent, and a refusal keeps it; a refused application can be
corrected and sent again as a new one (its form is filled from the refused one).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from typing import Any

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from aifactory.core.aiact_text import screen_text
from aifactory.core.assessment import TOLERANCE, SplitAssessment, TechnicalAssessment, assess, assess_split
from aifactory.core.catalog import GPU_MODELS
from aifactory.core.eligibility import evaluate_gate, screen
from aifactory.core.exceptions import InvalidInput, InvalidTransition
from aifactory.core.modes import AccessMode as ModeSpec
from aifactory.core.modes import load_modes
from aifactory.core.planner import estimate_for, plan_training
from aifactory.core.routing import route
from aifactory.portal.access.choices import AccessMode, ApplicationState, RouteMethod, check_application_transition
from aifactory.portal.access.models import Application, Route, StateChange
from aifactory.portal.access.routing import factory_name, open_capacity, project_of, target_of
from aifactory.portal.allocations.models import Allocation
from aifactory.portal.allocations.services import _add_months, allocation_create
from aifactory.portal.common.errors import BadRequest, Conflict, Forbidden
from aifactory.portal.federation.models import Machine
from aifactory.portal.federation.selectors import planned_run
from aifactory.portal.mail.choices import MailKind
from aifactory.portal.mail.services import mail_send
from aifactory.portal.organisations.models import Organisation
from aifactory.portal.organisations.selectors import check_acts_for, is_call_manager, team_addresses


def _field_error(exc: InvalidInput) -> BadRequest:
    return BadRequest(exc.message, {"field": exc.field})


def _refuse(field: str, message: str) -> BadRequest:
    return BadRequest(f"{field}: {message}", {"field": field})


def _move(application: Application, target: ApplicationState, *, actor: AbstractBaseUser | None, reason: str) -> None:
    check_application_transition(application.state, target)
    StateChange.objects.create(
        application=application, actor=actor, from_state=application.state, to_state=target.value, reason=reason
    )
    application.state = target.value
    if target.decision and application.decided_at is None:
        application.decided_at = timezone.now()
    application.save(update_fields=["state", "decided_at", "reasons"])
    if target.decision:
        _mail_decision(application, target, reason)


def _mail_decision(application: Application, target: ApplicationState, reason: str) -> None:
    """E-mail a decision to who submitted the application and to the organisation's PIs and contacts (queued)."""
    submitter = getattr(application.submitted_by, "email", "")
    to = list(dict.fromkeys([a for a in [submitter, *team_addresses(application.organisation)] if a]))
    if not to:
        return
    mail_send(
        to=to, kind=MailKind.DECISION, key=f"decision-{application.pk}-{target.value}",
        subject=f"{application.title}: {target.value.replace('_', ' ')}",
        body=(f"The application {application.title!r} of {application.organisation.name} is now "
              f"{target.value.replace('_', ' ')}.\n\n" + (f"Reason: {reason}\n\n" if reason else "")
              + f"Details: {settings.PUBLIC_URL}/applications/{application.pk}/\n"),
    )


def mode_spec(key: str) -> ModeSpec:
    try:
        return load_modes().get(key)
    except InvalidInput as exc:
        raise _field_error(exc) from exc


def _machine_lines(
    *, machine_key: str, requested_gpu_hours: float, machine_hours: Mapping[str, float] | None, call: Any
) -> dict[str, float]:
    """GPU-hours per machine as sent: the split when given (calls only), else everything on the machine."""
    if not machine_hours:
        return {machine_key: float(requested_gpu_hours)}
    if call is None:
        raise _refuse("machine_hours", "a request split over several machines answers a call")
    if machine_key not in machine_hours:
        raise _refuse("machine", f"{machine_key!r} must be one of the machines in machine_hours")
    total = sum(float(v) for v in machine_hours.values())
    if abs(total - float(requested_gpu_hours)) > 1e-6 * max(total, 1.0):
        raise _refuse(
            "requested_gpu_hours",
            f"{requested_gpu_hours:,.6g} is not the sum of machine_hours ({total:,.6g}); nothing is changed for you",
        )
    return {str(k): float(v) for k, v in machine_hours.items()}


def _check_call(call: Any, spec: ModeSpec, *, months: int, open_science: bool) -> None:
    if spec.call and call is None:
        raise _refuse("call", f"{spec.name} proposals answer a call: give the call's id")
    if not spec.call and call is not None:
        raise _refuse("call", f"{spec.name} applications do not answer a call")
    if call is None:
        return
    if call.mode != spec.key:
        raise _refuse("call", f"call {call.pk} is a {call.get_mode_display()} call, not {spec.name}")
    if not call.takes_proposals():
        raise _refuse("call", f"call {call.pk} took proposals until {call.deadline:%Y-%m-%d %H:%M} UTC; it is closed")
    if months > call.months:
        raise _refuse("months", f"call {call.pk} grants allocations of at most {call.months} months")
    if call.open_science and not open_science:
        raise _refuse(
            "open_science",
            "winners of this call must release their model under an open-source licence for non-commercial use, "
            "or publish their research: accept the obligation to take part",
        )


def _check_machines(lines: Mapping[str, float], call: Any) -> dict[str, Machine]:
    machines: dict[str, Machine] = {}
    field = "machine" if len(lines) == 1 else "machine_hours"
    budgets = {} if call is None else {b.machine.key: b.gpu_hours for b in call.budgets.select_related("machine")}
    for key, hours in lines.items():
        machine = Machine.objects.filter(key=key).first()
        if machine is None:
            raise _refuse(field, f"unknown machine {key!r}")
        if call is None and not machine.sites.exists():
            raise _refuse(field, f"{key!r} has no site taking allocations yet")
        if call is not None:
            if key not in budgets:
                known = ", ".join(sorted(budgets)) or "none"
                raise _refuse(field, f"call {call.pk} funds no GPU-hours on {key!r} (machines of the call: {known})")
            if hours > budgets[key]:
                raise _refuse(
                    "requested_gpu_hours" if len(lines) == 1 else "machine_hours",
                    f"{hours:,.6g} GPU-hours on {key} are more than the call's whole budget there "
                    f"({budgets[key]:,.6g})",
                )
        machines[key] = machine
    return machines


def _gpu(gpu: str) -> str:
    if not gpu.strip():
        return ""
    for model in GPU_MODELS:
        if gpu.strip().upper() == model:
            return model
    raise _refuse("gpu", f"unknown GPU model {gpu!r} (known: {', '.join(GPU_MODELS)})")


def _check_request_covers_plan(assessment: TechnicalAssessment | SplitAssessment, *, machine: Machine,
                               requested_gpu_hours: float, spec: ModeSpec) -> None:
    """A mode decided at once never grants a run that the plan says cannot finish on what is asked. The GPU-hours
    the plan needs are the assessment's: the run planner's for the GPUs asked for where it plans the run, the 6·N·D
    estimate where it cannot."""
    if isinstance(assessment, SplitAssessment):
        needed = requested_gpu_hours / assessment.coverage if assessment.coverage else None
    else:
        needed = assessment.planned_gpu_hours
    if needed is None or needed <= requested_gpu_hours * (1 + TOLERANCE):
        return
    cap = spec.gpu_hours_at_most
    advice = (f"ask for about {needed:,.0f} GPU-hours" if cap is None or needed <= cap else
              f"{spec.name} grants at most {cap:,.0f} GPU-hours: plan a smaller model or fewer tokens, or apply for "
              "Fast Lane")
    raise _refuse(
        "requested_gpu_hours",
        f"the planner estimates {needed:,.0f} GPU-hours on {machine.name} for this plan, more than the "
        f"{requested_gpu_hours:,.0f} asked for: the run would not finish. {advice[0].upper() + advice[1:]}.",
    )


def _assessment_reasons(assessment: TechnicalAssessment | SplitAssessment, spec: ModeSpec) -> list[str]:
    head = "Technical assessment" if spec.technical_assessment else "Plan check"
    return [f"{head}: {message}" for message in assessment.reasons()]


@transaction.atomic
def application_submit(
    *,
    organisation: Organisation,
    user: AbstractBaseUser,
    title: str,
    machine_key: str,
    params: float,
    tokens: float,
    gpus: int,
    requested_gpu_hours: float,
    months: int,
    civil_use: bool,
    practices: Sequence[str] = (),
    areas: Sequence[str] = (),
    mode: str = AccessMode.PLAYGROUND,
    call: Any = None,
    gpu: str = "",
    machine_hours: Mapping[str, float] | None = None,
    sector: str = "",
    summary: str = "",
    description: str = "",
    keywords: Sequence[str] = (),
    people: Sequence[str] = (),
    open_science: bool = False,
) -> Application:
    """Check, record and decide what can be decided at once (the flow in the module doc)."""
    check_acts_for(user, organisation.pk)
    if civil_use is not True:
        raise _refuse("civil_use", "the AI Factories serve civil uses only: confirm that the work is for civil use "
                      "only to apply")
    spec = mode_spec(mode)
    _check_call(call, spec, months=months, open_science=open_science)
    lines = _machine_lines(
        machine_key=machine_key, requested_gpu_hours=requested_gpu_hours, machine_hours=machine_hours, call=call
    )
    machines = _check_machines(lines, call)
    machine = machines[machine_key]
    gpu_model = _gpu(gpu)
    try:
        plan = plan_training(params, tokens, gpus=gpus)
        run = planned_run(machine_key, params=params, tokens=tokens, gpus=gpus) if len(lines) == 1 else None
        assessment: TechnicalAssessment | SplitAssessment
        if len(lines) == 1:
            assessment = assess(plan, machine=machine_key, requested_gpu_hours=requested_gpu_hours, months=months,
                                mode=spec, gpu=gpu_model or None, run=run)
        else:
            assessment = assess_split(plan, hours=lines, months=months, mode=spec, gpu=gpu_model or None)
        assessment.check()
        if not spec.technical_assessment and not spec.call:
            _check_request_covers_plan(assessment, machine=machine, requested_gpu_hours=requested_gpu_hours, spec=spec)
        screening = screen(practices=practices, areas=areas, flops=plan.flops)
        gate = evaluate_gate(
            country=organisation.country, on=timezone.localdate(), civil_use=civil_use, screening=screening
        )
        text = screen_text({"title": title, "summary": summary, "description": description})
    except InvalidInput as exc:
        raise _field_error(exc) from exc
    pledges = sorted(organisation.pledges.values_list("pledge", flat=True))
    related = organisation.related_enterprises.count()
    notes = [
        f"AI Pact pledges recorded: {', '.join(pledges)}." if pledges
        else "No AI Pact pledge recorded (pledges are voluntary).",
        f"SME category: {organisation.get_sme_category_display()}"
        + (f", counting {related} partner or linked enterprise(s)." if related else "."),
    ]
    submitted = timezone.localdate()
    application = Application.objects.create(
        organisation=organisation,
        submitted_by=user,
        mode=spec.key,
        call=call,
        title=title,
        summary=summary,
        description=description,
        sector=sector or organisation.sector,
        keywords=list(keywords),
        people=list(people),
        machine=machine,
        machine_hours=dict(lines) if len(lines) > 1 else {},
        gpu=gpu_model,
        params=params,
        tokens=tokens,
        gpus=gpus,
        requested_gpu_hours=requested_gpu_hours,
        months=months,
        civil_use=civil_use,
        practices=list(practices),
        areas=list(areas),
        open_science=open_science,
        pledges=pledges,
        plan={"plan": plan.to_dict(), "machine": estimate_for(plan, machine_key).to_dict(),
              "run": None if run is None else run.to_dict()},
        assessment=assessment.to_dict(),
        high_risk=gate.high_risk,
        systemic_risk=gate.systemic_risk,
        text_findings=text.to_list(),
        reasons=[*gate.reasons, *text.reasons(), *_assessment_reasons(assessment, spec), *notes],
        promised_by=spec.promised_by(
            submitted=submitted,
            cutoff=None if call is None else timezone.localtime(call.deadline).date(),
            decision_by=None if call is None else call.decision_by,
        ),
    )
    StateChange.objects.create(application=application, actor=user, from_state="", to_state=application.state)
    if not gate.eligible:
        _move(application, ApplicationState.REFUSED, actor=None, reason="; ".join(r for r in gate.reasons))
    elif gate.high_risk:
        _move(application, ApplicationState.ETHICS_REVIEW, actor=None,
              reason="an Annex III area is named: the ethics review decides")
    elif text.flagged:
        _move(application, ApplicationState.ETHICS_REVIEW, actor=None,
              reason="the text may describe " + ", ".join(f.label for f in text.findings)
              + ": the ethics review decides, with the passages shown")
    else:
        _after_gate(application, actor=None)
    return application


def _after_gate(application: Application, *, actor: AbstractBaseUser | None, note: str = "") -> None:
    """The next step once the gate (and any ethics review, `note`) let the application through."""
    spec = mode_spec(application.mode)
    if spec.call:
        _move(application, ApplicationState.IN_REVIEW, actor=actor,
              reason=note or f"in call {application.call_id}: waiting for peer review and selection")
        return
    if not spec.technical_assessment:
        application.reasons = [*application.reasons, f"{spec.name}: eligible with a clean screening, approved at once."]
        _move(application, ApplicationState.APPROVED, actor=actor, reason=note or "first come, first served")
        routes_record(application, [(application.machine, application.requested_gpu_hours, None,
                                     [f"{spec.name} runs on the one system asked for"])],
                      method=RouteMethod.REQUESTED, actor=actor)
        _allocate(application, starts_on=None)
        return
    concerns = [f["message"] for f in application.assessment.get("flags", []) if _is_concern(f)]
    if concerns and application.state != ApplicationState.TECHNICAL_REVIEW:
        _move(application, ApplicationState.TECHNICAL_REVIEW, actor=actor,
              reason=(f"{note}; " if note else "") + "the technical assessment flagged: " + " ".join(concerns))
        return
    _route_open(application, actor=actor, note=note)


def _is_concern(flag: Mapping[str, Any]) -> bool:
    return not flag.get("blocking") and flag.get("code") != "note"


def _route_open(application: Application, *, actor: AbstractBaseUser | None, note: str = "") -> None:
    """Fast Lane: route to the best machine that offers the GPU and can take the hours, then accept."""
    machines = list(Machine.objects.filter(sites__isnull=False).distinct())
    capacity = open_capacity(machines)
    result = route([project_of(application)], [target_of(m, capacity[m.key]) for m in machines])
    if not result.routes:
        why = "; ".join(result.unrouted.get(str(application.pk), ()))
        if application.state != ApplicationState.TECHNICAL_REVIEW:
            _move(application, ApplicationState.TECHNICAL_REVIEW, actor=actor,
                  reason=f"{note + '; ' if note else ''}no machine can take it: {why}")
            return
        raise Conflict(f"no machine can take application {application.pk} now: {why}")
    chosen = result.routes[0]
    machine = next(m for m in machines if m.key == chosen.machine)
    application.reasons = [
        *application.reasons,
        f"Routed to {machine.name} ({factory_name(chosen.factory) if chosen.factory else 'no AI Factory'}): "
        + "; ".join(chosen.reasons) + ".",
    ]
    _move(application, ApplicationState.APPROVED, actor=actor,
          reason=note or f"first in, first out, assessed and routed to {machine.key}")
    routes_record(application, [(machine, application.requested_gpu_hours, chosen.fit, list(chosen.reasons))],
                  method=RouteMethod.OPTIMISER, actor=actor)
    _allocate(application, starts_on=None)


def routes_record(
    application: Application,
    routes: Sequence[tuple[Machine, float, float | None, list[str]]],
    *,
    method: str,
    actor: AbstractBaseUser | None,
    reason: str = "",
) -> list[Route]:
    """Record where the application goes; the routes it had before stay, marked as not current."""
    Route.objects.filter(application=application, current=True).update(current=False)
    return [
        Route.objects.create(
            application=application, machine=machine, factory=machine.factory, gpu_hours=hours, fit=fit,
            reasons=reasons, method=method, decided_by=actor, reason=reason,
        )
        for machine, hours, fit, reasons in routes
    ]


def _allocate(application: Application, *, starts_on: date | None) -> list[Allocation]:
    starts = starts_on or timezone.localdate()
    ends = _add_months(starts, application.months)
    routes = application.routes.filter(current=True).select_related("machine")
    # The machine asked for first, then by key: account names must not depend on how the database orders JSON keys.
    ordered = sorted(routes, key=lambda r: (r.machine_id != application.machine_id, r.machine.key))
    return [
        allocation_create(application=application, machine=r.machine, gpu_hours=r.gpu_hours, starts_on=starts,
                          ends_on=ends)
        for r in ordered
    ]


def _manager(user: AbstractBaseUser) -> None:
    if not is_call_manager(user):
        raise Forbidden("only a call manager decides reviews, selections and acceptances")


@transaction.atomic
def application_decide(
    *, application: Application, user: AbstractBaseUser, approve: bool, reason: str
) -> Application:
    """A call manager's decision after an ethics review or a technical review, with its reason."""
    _manager(user)
    application = Application.objects.select_for_update().get(pk=application.pk)
    if not reason.strip():
        raise _refuse("reason", "a decision needs its reason")
    current = ApplicationState(application.state)
    if current not in (ApplicationState.ETHICS_REVIEW, ApplicationState.TECHNICAL_REVIEW):
        target = ApplicationState.APPROVED if approve else ApplicationState.REFUSED
        raise InvalidTransition("application", current.value, target.value)
    label = "Ethics review" if current is ApplicationState.ETHICS_REVIEW else "Technical review"
    application.reasons = [*application.reasons, f"{label}: {reason.strip()}"]
    if not approve:
        _move(application, ApplicationState.REFUSED, actor=user, reason=reason.strip())
        return application
    if current is ApplicationState.ETHICS_REVIEW:
        _after_gate(application, actor=user, note=reason.strip())
    elif mode_spec(application.mode).call:
        _move(application, ApplicationState.IN_REVIEW, actor=user, reason=reason.strip())
    else:
        _route_open(application, actor=user)
    return application


def application_select(*, application: Application, user: AbstractBaseUser, selected: bool, reason: str) -> None:
    """The call's selection decides a proposal in review (review.services.call_select)."""
    _manager(user)
    target = ApplicationState.SELECTED if selected else ApplicationState.NOT_SELECTED
    _move(application, target, actor=user, reason=reason)


@transaction.atomic
def application_accept(
    *, application: Application, user: AbstractBaseUser | None, reason: str, starts_on: date | None = None
) -> list[Allocation]:
    """Accept a selected project: allocations on its routed machines and one provisioning order per site."""
    application = Application.objects.select_for_update().get(pk=application.pk)
    if not application.routes.filter(current=True).exists():
        raise Conflict(f"application {application.pk} has no route yet")
    _move(application, ApplicationState.APPROVED, actor=user, reason=reason)
    return _allocate(application, starts_on=starts_on)
