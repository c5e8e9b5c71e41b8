"""Writes of the access context: applications, the gate, and decisions."""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from aifactory.core.eligibility import evaluate_gate, screen
from aifactory.core.exceptions import InvalidInput
from aifactory.core.planner import estimate_for, plan_training
from aifactory.portal.access.choices import (
    PLAYGROUND_MAX_GPU_HOURS,
    PLAYGROUND_MONTHS,
    AccessMode,
    ApplicationState,
    check_application_transition,
)
from aifactory.portal.access.models import Application, StateChange
from aifactory.portal.allocations.services import allocation_create
from aifactory.portal.common.errors import BadRequest
from aifactory.portal.federation.models import Machine
from aifactory.portal.organisations.models import Organisation


def _field_error(exc: InvalidInput) -> BadRequest:
    return BadRequest(exc.message, {"field": exc.field})


def _move(application: Application, target: ApplicationState, *, actor: AbstractBaseUser | None, reason: str) -> None:
    check_application_transition(application.state, target)
    StateChange.objects.create(
        application=application, actor=actor, from_state=application.state, to_state=target.value, reason=reason
    )
    application.state = target.value
    if target in (ApplicationState.APPROVED, ApplicationState.REFUSED):
        application.decided_at = timezone.now()
    application.save(update_fields=["state", "decided_at", "reasons"])


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
) -> Application:
    """Record the application, pass it through the gate and decide it: Playground decides at once.

    The application is stored before any decision, so a refusal keeps what the applicant sent.
    """
    if mode != AccessMode.PLAYGROUND:
        raise BadRequest(f"mode: {mode!r} is not open; open modes: playground", {"field": "mode"})
    machine = Machine.objects.filter(key=machine_key).first()
    if machine is None:
        raise BadRequest(f"machine: unknown machine {machine_key!r}", {"field": "machine"})
    if not machine.sites.exists():
        raise BadRequest(f"machine: {machine_key!r} has no site taking allocations yet", {"field": "machine"})
    if not 0 < requested_gpu_hours <= PLAYGROUND_MAX_GPU_HOURS:
        raise BadRequest(
            f"requested_gpu_hours: Playground grants more than 0 and at most {PLAYGROUND_MAX_GPU_HOURS} GPU-hours",
            {"field": "requested_gpu_hours"},
        )
    if not PLAYGROUND_MONTHS[0] <= months <= PLAYGROUND_MONTHS[1]:
        raise BadRequest(
            f"months: Playground lasts {PLAYGROUND_MONTHS[0]} to {PLAYGROUND_MONTHS[1]} months", {"field": "months"}
        )
    try:
        plan = plan_training(params, tokens, gpus=gpus)
        estimate = estimate_for(plan, machine.key)
        screening = screen(practices=practices, areas=areas, flops=plan.flops)
        gate = evaluate_gate(
            country=organisation.country, on=timezone.localdate(), civil_use=civil_use, screening=screening
        )
    except InvalidInput as exc:
        raise _field_error(exc) from exc

    application = Application.objects.create(
        organisation=organisation,
        submitted_by=user,
        mode=mode,
        title=title.strip(),
        machine=machine,
        params=params,
        tokens=tokens,
        gpus=gpus,
        requested_gpu_hours=requested_gpu_hours,
        months=months,
        civil_use=civil_use,
        practices=list(practices),
        areas=list(areas),
        plan={"plan": plan.to_dict(), "machine": estimate.to_dict()},
        high_risk=gate.high_risk,
        systemic_risk=gate.systemic_risk,
        reasons=list(gate.reasons),
    )
    StateChange.objects.create(application=application, actor=user, from_state="", to_state=application.state)
    if not gate.eligible:
        _move(application, ApplicationState.REFUSED, actor=None, reason="; ".join(gate.reasons))
    elif gate.high_risk:
        _move(application, ApplicationState.ETHICS_REVIEW, actor=None, reason="Annex III area named")
    else:
        application.reasons = [*application.reasons, "Playground: eligible with a clean screening, approved at once."]
        _move(application, ApplicationState.APPROVED, actor=None, reason="first come, first served")
        allocation_create(application=application)
    return application


@transaction.atomic
def application_decide_ethics(
    *, application: Application, user: AbstractBaseUser, approve: bool, reason: str
) -> Application:
    """Staff's decision after an ethics review."""
    application = Application.objects.select_for_update().get(pk=application.pk)
    if not reason.strip():
        raise BadRequest("reason: a decision needs its reason", {"field": "reason"})
    target = ApplicationState.APPROVED if approve else ApplicationState.REFUSED
    application.reasons = [*application.reasons, f"Ethics review: {reason.strip()}"]
    _move(application, target, actor=user, reason=reason.strip())
    if approve:
        allocation_create(application=application)
    return application
