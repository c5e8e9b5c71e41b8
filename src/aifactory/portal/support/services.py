"""Writes of the support context: centres, requests and their threads.

A request moves new -> assigned -> (waiting_user <-> assigned | answered -> assigned) -> closed
(choices.REQUEST_TRANSITIONS), each move a SupportRequestStateChange row:
    request_open      a member of an organisation opens it; the single point of contact routes it at once
                      (core/support.route: topic, sector, machine or factory, load) and the reasons are kept
    request_answer    the centre's staff answer: first answer time kept for the service clock, the person mailed
    request_ask       the centre's staff ask the person something (waiting for the user), the person mailed
    request_reply     the person writes again: back to the centre's turn
    request_close     the person or the centre's staff close it
    request_reassign  the centre's staff (or portal staff) hand it to another centre, with a reason
    centre_set_sla    the centre's staff (or portal staff) set its first-answer time in working days
Staff of a centre are the operators of its AI Factory (role factory_operator); portal staff act for every centre.
"""

from __future__ import annotations

from datetime import date

from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.db.models import Count
from django.utils import timezone

from aifactory.core import support as core_support
from aifactory.core.exceptions import InvalidInput
from aifactory.portal.common.errors import BadRequest, Forbidden
from aifactory.portal.federation.models import Machine
from aifactory.portal.mail.choices import MailKind
from aifactory.portal.mail.models import OutgoingMail
from aifactory.portal.mail.services import mail_send
from aifactory.portal.organisations.models import Organisation
from aifactory.portal.organisations.selectors import operator_addresses
from aifactory.portal.support.choices import OPEN_STATES, RequestState, Topic, check_request_transition
from aifactory.portal.support.models import SupportCentre, SupportMessage, SupportRequest, SupportRequestStateChange
from aifactory.portal.support.selectors import is_centre_staff, is_requester

MAX_TEXT = 20_000


def _refuse(field: str, message: str) -> BadRequest:
    return BadRequest(f"{field}: {message}", {"field": field})


def _text(field: str, value: str, *, limit: int = MAX_TEXT) -> str:
    value = value.strip()
    if not value:
        raise _refuse(field, "must not be empty")
    if len(value) > limit:
        raise _refuse(field, f"at most {limit} characters")
    return value


def _move(request: SupportRequest, target: RequestState, *, actor: AbstractBaseUser | None, reason: str) -> None:
    check_request_transition(request.state, target)
    SupportRequestStateChange.objects.create(request=request, actor=actor, from_state=request.state,
                                             to_state=target.value, reason=reason)
    request.state = target.value
    if target is RequestState.CLOSED:
        request.closed_at = timezone.now()
    request.save()


def centres_sync() -> int:
    """Mirror the shipped support centres into the database (their service level set here is kept)."""
    centres = core_support.load_centres()
    for c in centres:
        row, created = SupportCentre.objects.get_or_create(
            key=c.key, defaults={"factory": c.factory, "name": c.name,
                                 "first_answer_working_days": c.first_answer_working_days})
        if not created and (row.factory, row.name) != (c.factory, c.name):
            row.factory, row.name = c.factory, c.name
            row.save(update_fields=["factory", "name"])
    return len(centres)


def sla_days_of(centre: SupportCentre) -> int:
    return centre.first_answer_working_days or settings.SUPPORT_FIRST_ANSWER_WORKING_DAYS


@transaction.atomic
def centre_set_sla(*, centre: SupportCentre, user: AbstractBaseUser, days: int) -> SupportCentre:
    if not is_centre_staff(user, centre):
        raise Forbidden("only the centre's staff set its service level")
    if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 60:
        raise _refuse("days", "must be a whole number of working days from 1 to 60")
    centre.first_answer_working_days = days
    centre.save(update_fields=["first_answer_working_days"])
    return centre


def _route(request: SupportRequest, *, exclude: str | None = None) -> core_support.Routing:
    centres_sync()
    load = dict(
        SupportRequest.objects.filter(state__in=[s.value for s in OPEN_STATES], centre__isnull=False)
        .values_list("centre__key").annotate(n=Count("pk")).values_list("centre__key", "n")
    )
    ask = core_support.Ask(topic=request.topic, sector=request.sector, factory=request.factory or None,
                           machine=request.machine.name if request.machine else None)
    centres = [c for c in core_support.load_centres() if c.key != exclude]
    return core_support.route(ask, centres, load)


@transaction.atomic
def request_open(*, user: AbstractBaseUser, organisation: Organisation, topic: str, title: str, text: str,
                 sector: str = "", machine_key: str | None = None, factory_key: str | None = None) -> SupportRequest:
    """Open a request for one of the person's organisations and route it to the competent centre."""
    if not organisation.members.filter(pk=user.pk).exists():
        raise Forbidden("you may open requests only for your own organisations")
    if topic not in Topic.values:
        raise _refuse("topic", f"unknown topic {topic!r} (known: {', '.join(Topic.values)})")
    title = _text("title", title, limit=200)
    text = _text("text", text)
    sector = sector.strip()[:100]
    machine = None
    factory = (factory_key or "").strip()
    if machine_key:
        machine = Machine.objects.filter(key=machine_key).first()
        if machine is None:
            raise _refuse("machine", f"unknown machine {machine_key!r}")
        if factory and machine.factory and factory != machine.factory:
            raise _refuse("factory", f"{machine.name} belongs to {machine.factory}, not {factory}")
        factory = factory or machine.factory
    if factory and factory not in {c.factory for c in core_support.load_centres()}:
        raise _refuse("factory", f"unknown AI Factory {factory!r}")
    if topic == Topic.DOMAIN and not sector:
        sector = organisation.sector
    request = SupportRequest.objects.create(organisation=organisation, opened_by=user, topic=topic, sector=sector,
                                            machine=machine, factory=factory, title=title)
    SupportMessage.objects.create(request=request, author=user, kind=SupportMessage.Kind.REQUEST, body=text)
    SupportRequestStateChange.objects.create(request=request, actor=user, from_state="", to_state="new",
                                             reason="opened")
    try:
        routing = _route(request)
    except InvalidInput as exc:
        raise _refuse(exc.field, exc.message) from exc
    if routing.chosen is None:
        why = "; ".join(f"{r.centre}: {r.reason}" for r in routing.refused)
        raise _refuse("topic", f"no support centre is competent for this request ({why})")
    _assign(request, routing.chosen, actor=None, prefix="single point of contact")
    return request


def _assign(request: SupportRequest, choice: core_support.Choice, *, actor: AbstractBaseUser | None,
            prefix: str) -> None:
    centre = SupportCentre.objects.get(key=choice.centre)
    request.centre = centre
    request.sla_working_days = sla_days_of(centre)
    request.route_reasons = list(choice.reasons)
    reason = f"{prefix}: {centre.name} (score {choice.score:g}): " + "; ".join(choice.reasons)
    if request.state == RequestState.ASSIGNED:
        SupportRequestStateChange.objects.create(request=request, actor=actor, from_state=request.state,
                                                 to_state=request.state, reason=reason)
        request.save()
    else:
        _move(request, RequestState.ASSIGNED, actor=actor, reason=reason)


def _locked(request: SupportRequest) -> SupportRequest:
    return SupportRequest.objects.select_for_update(of=("self",)).select_related("centre", "opened_by").get(
        pk=request.pk)


def _notify(request: SupportRequest, message: SupportMessage) -> None:
    what = "answered" if message.kind == SupportMessage.Kind.ANSWER else "asked you something about"
    centre = request.centre.name if request.centre else "the support centre"
    body = (f"{centre} {what} your support request #{request.pk} ({request.title}):\n\n{message.body}\n\n"
            f"Reply or close it on the portal: /support/requests/{request.pk}/\n")
    to = request.opened_by.email
    if not to.strip():
        return
    mail_send(to=[to], subject=f"[aifactory] Support request #{request.pk}: {request.title}", body=body,
              kind=MailKind.SUPPORT)
    message.mailed_to = to
    message.save(update_fields=["mailed_to"])


def _staff_reply(request: SupportRequest, user: AbstractBaseUser, body: str, kind: str,
                 target: RequestState) -> SupportRequest:
    request = _locked(request)
    if request.centre is None or not is_centre_staff(user, request.centre):
        raise Forbidden("only the staff of the centre the request is assigned to answer it")
    body = _text("body", body)
    check_request_transition(request.state, target)
    message = SupportMessage.objects.create(request=request, author=user, kind=kind, body=body)
    if request.first_answered_at is None:
        request.first_answered_at = message.at
    _move(request, target, actor=user, reason=kind)
    transaction.on_commit(lambda: _notify(request, message))
    return request


@transaction.atomic
def request_answer(*, request: SupportRequest, user: AbstractBaseUser, body: str) -> SupportRequest:
    return _staff_reply(request, user, body, SupportMessage.Kind.ANSWER, RequestState.ANSWERED)


@transaction.atomic
def request_ask(*, request: SupportRequest, user: AbstractBaseUser, body: str) -> SupportRequest:
    return _staff_reply(request, user, body, SupportMessage.Kind.QUESTION, RequestState.WAITING_USER)


@transaction.atomic
def request_reply(*, request: SupportRequest, user: AbstractBaseUser, body: str) -> SupportRequest:
    """The person writes again; a request waiting for them or answered goes back to the centre."""
    request = _locked(request)
    if not is_requester(user, request):
        raise Forbidden("only the organisation that opened the request writes in its thread")
    body = _text("body", body)
    if request.state == RequestState.CLOSED:
        check_request_transition(request.state, RequestState.ASSIGNED)
    SupportMessage.objects.create(request=request, author=user, kind=SupportMessage.Kind.REPLY, body=body)
    if request.state in (RequestState.WAITING_USER, RequestState.ANSWERED):
        _move(request, RequestState.ASSIGNED, actor=user, reason="the user replied")
    return request


@transaction.atomic
def request_close(*, request: SupportRequest, user: AbstractBaseUser, reason: str = "") -> SupportRequest:
    request = _locked(request)
    staff = request.centre is not None and is_centre_staff(user, request.centre)
    if not staff and not is_requester(user, request):
        raise Forbidden("only the person's organisation or the centre's staff close a request")
    _move(request, RequestState.CLOSED, actor=user, reason=reason.strip()[:1000] or "closed")
    return request


@transaction.atomic
def request_reassign(*, request: SupportRequest, user: AbstractBaseUser, centre_key: str,
                     reason: str) -> SupportRequest:
    request = _locked(request)
    if request.centre is None or not is_centre_staff(user, request.centre):
        raise Forbidden("only the staff of the centre the request is assigned to hand it on")
    reason = _text("reason", reason, limit=1000)
    if request.state not in (RequestState.ASSIGNED, RequestState.WAITING_USER):
        raise _refuse("state", f"a request in state {request.state!r} is not handed on")
    centres_sync()
    target = SupportCentre.objects.filter(key=centre_key).first()
    if target is None:
        raise _refuse("centre", f"unknown centre {centre_key!r}")
    if target.pk == request.centre.pk:
        raise _refuse("centre", "the request is with that centre already")
    previous = request.centre.name
    request.centre = target
    request.sla_working_days = sla_days_of(target)
    request.route_reasons = [f"handed on by {previous}: {reason}"]
    SupportRequestStateChange.objects.create(request=request, actor=user, from_state=request.state,
                                             to_state=request.state, reason=f"handed on to {target.name}: {reason}")
    request.save()
    return request


# --- escalation ---------------------------------------------------------------------------------------------------


def requests_escalate(*, today: date | None = None) -> list[tuple[SupportRequest, str]]:
    """E-mail the operators of a centre when one of its open requests still has no first answer and its
    first-answer day is near (due within one working day) or past: once per request and state (the outbox's key
    `support-escalation-<id>-<state>`), so a request may be announced near, then overdue. The periodic task
    `support.escalate` runs it every hour; the centre's queue shows the same clock. Returns what it mailed."""
    today = today or timezone.localdate()
    sent = []
    waiting = (SupportRequest.objects.filter(state__in=OPEN_STATES, first_answered_at__isnull=True,
                                             centre__isnull=False, sla_working_days__isnull=False)
               .select_related("centre", "organisation").order_by("pk"))
    for request in waiting:
        clock = core_support.sla(timezone.localdate(request.opened_at), request.sla_working_days, None, today)
        if clock.state not in ("near", "overdue"):
            continue
        key = f"support-escalation-{request.pk}-{clock.state}"
        to = operator_addresses(request.centre.factory)
        if not to or OutgoingMail.objects.filter(key=key).exists():
            continue
        when = "is due" if clock.state == "near" else "was due"
        mail_send(
            to=to, kind=MailKind.SUPPORT, key=key,
            subject=f"[aifactory] Escalated: support request #{request.pk} ({clock.state}): {request.title}",
            body=(f"The support request #{request.pk} of {request.organisation.name} to {request.centre.name} has no "
                  f"first answer yet; it {when} on {clock.due.isoformat()} ({request.sla_working_days} working "
                  f"days).\n\nAnswer it at {settings.PUBLIC_URL}/support/requests/{request.pk}/\n"),
        )
        sent.append((request, clock.state))
    return sent
