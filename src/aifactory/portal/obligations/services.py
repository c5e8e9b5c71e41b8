"""Writes of the obligations context.

An obligation moves pending -> met (choices.OBLIGATION_TRANSITIONS), each move an ObligationStateChange row:
    call_open_from_template  a call manager opens a call with a template's rules (winner limit, prize, open science;
                             for a capacity prize, budgets per machine in proportion to its GPUs)
    obligations_open         once a call's winners are accepted, its manager gives each winner its obligation and
                             a date
    release_submit           a member of the winner's organisation names the release's licence (SPDX expression)
                             and where it is; accepted only when the licence meets the call's rule
    publication_submit       the same with a DOI or an arXiv id, when the call's rule takes a publication
    obligations_remind       mail the winners whose date is 30, 7 or 1 day(s) away, and once when it has passed;
                             each reminder is sent once (Reminder rows)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date, datetime
from decimal import Decimal

from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from aifactory.core import call_templates as core_templates
from aifactory.core import openscience
from aifactory.core.catalog import load_catalog
from aifactory.portal.access.choices import ApplicationState
from aifactory.portal.common.errors import BadRequest, Forbidden
from aifactory.portal.federation.models import Site
from aifactory.portal.mail.services import mail_send
from aifactory.portal.obligations.choices import (
    REMIND_DAYS_BEFORE,
    EvidenceKind,
    ObligationState,
    check_obligation_transition,
)
from aifactory.portal.obligations.models import CallRule, Evidence, Obligation, ObligationStateChange, Reminder
from aifactory.portal.obligations.selectors import template_of
from aifactory.portal.organisations.selectors import is_call_manager
from aifactory.portal.review.choices import CallState
from aifactory.portal.review.models import Call
from aifactory.portal.review.services import CriterionSpec, call_open


def _refuse(field: str, message: str, **more: object) -> BadRequest:
    return BadRequest(f"{field}: {message}", {"field": field, **more})


def _move(o: Obligation, target: ObligationState, *, actor: AbstractBaseUser, reason: str) -> None:
    check_obligation_transition(o.state, target)
    ObligationStateChange.objects.create(obligation=o, actor=actor, from_state=o.state, to_state=target.value,
                                         reason=reason)
    o.state = target.value
    if target is ObligationState.MET:
        o.met_at = timezone.now()
    o.save()


@transaction.atomic
def call_open_from_template(*, user: AbstractBaseUser, template: str, title: str, deadline: datetime,
                            criteria: Sequence[CriterionSpec], budgets: Mapping[str, float] | None = None,
                            decision_by: date | None = None, reviewers_per_proposal: int = 2) -> Call:
    if not is_call_manager(user):
        raise Forbidden("only a call manager opens calls")
    t = core_templates.template(template)
    if not budgets:
        prize = core_templates.capacity_prize(t, load_catalog().gpu_machines())
        if prize is None:
            raise _refuse("budgets", f"{t.title} names no share of capacity: give the GPU-hours per machine")
        share = t.capacity_share or 0.0
        served = set(Site.objects.values_list("machine__key", flat=True))
        budgets = {m.key: round(share * (m.total_gpus or 0) * core_templates.HOURS_PER_YEAR * t.months / 12)
                   for m in load_catalog().gpu_machines() if m.total_gpus and m.key in served}
        if not budgets:
            raise _refuse("budgets", "no machine with a known GPU count has a site taking allocations yet")
    entry = t.entry
    rules = [f"Open science: {t.rule.text}.", f"Prize: {t.prize_note}."]
    if entry.min_params:
        rules.append(f"Models of at least {entry.min_params:.3g} parameters.")
    if entry.lead_eu_controlled:
        rules.append("The lead is an EU-established, EU-controlled company"
                     + (f" with a record of {entry.record_min_params:.3g}+ parameter models." if
                        entry.record_min_params else "."))
    rules += [f"{n[0].upper()}{n[1:]}." for n in entry.notes]
    rules.append(f"Source: {t.source}.")
    call = call_open(user=user, title=title, mode=t.mode, deadline=deadline, criteria=criteria, budgets=budgets,
                     decision_by=decision_by, description=" ".join(rules), winner_limit=t.winner_limit,
                     prize_eur=None if t.prize_eur is None else Decimal(str(t.prize_eur)), open_science=True,
                     months=t.months, reviewers_per_proposal=reviewers_per_proposal)
    CallRule.objects.create(call=call, template=t.key)
    return call


@transaction.atomic
def obligations_open(*, user: AbstractBaseUser, call: Call, due_on: date) -> list[Obligation]:
    """Every accepted winner of an open-science call gets its obligation, due on the date given."""
    if not is_call_manager(user):
        raise Forbidden("only a call manager sets the winners' obligations")
    if not call.open_science:
        raise _refuse("call", "the call carries no open-science obligation")
    if call.state != CallState.CLOSED:
        raise _refuse("call", "the call's winners are not accepted yet")
    if due_on <= timezone.localdate():
        raise _refuse("due_on", "the date must be in the future")
    t = template_of(call)
    created = []
    for app in call.applications.filter(state=ApplicationState.APPROVED).select_related("organisation"):
        if Obligation.objects.filter(application=app).exists():
            continue
        o = Obligation.objects.create(call=call, application=app, organisation=app.organisation, template=t.key,
                                      due_on=due_on)
        ObligationStateChange.objects.create(obligation=o, actor=user, from_state="", to_state=o.state,
                                             reason=f"winner of {call.title}: {t.rule.text}")
        created.append(o)
    if not created:
        raise _refuse("call", "no accepted winner without an obligation")
    return created


def _member(user: AbstractBaseUser, o: Obligation) -> None:
    if not o.organisation.members.filter(pk=user.pk).exists():
        raise Forbidden("only the winner's organisation reports on its obligation")


@transaction.atomic
def release_submit(*, user: AbstractBaseUser, obligation: Obligation, licence: str, url: str) -> Obligation:
    o = Obligation.objects.select_for_update(of=("self",)).select_related("organisation").get(pk=obligation.pk)
    _member(user, o)
    check_obligation_transition(o.state, ObligationState.MET)
    if not url.startswith(("https://", "http://")) or len(url) > 500:
        raise _refuse("url", "give where the model is released, as an http(s) address")
    t = core_templates.template(o.template)
    result = openscience.check_licence(licence, t.rule)
    if not result.accepted:
        raise _refuse("licence", f"{result.expression} does not meet the call's rule: " + "; ".join(result.reasons),
                      reasons=list(result.reasons))
    Evidence.objects.create(obligation=o, kind=EvidenceKind.RELEASE, licence=result.expression, url=url,
                            reasons=list(result.reasons), by=user)
    _move(o, ObligationState.MET, actor=user, reason=f"released under {result.expression}: "
                                                     + "; ".join(result.reasons))
    return o


@transaction.atomic
def publication_submit(*, user: AbstractBaseUser, obligation: Obligation, identifier: str) -> Obligation:
    o = Obligation.objects.select_for_update(of=("self",)).select_related("organisation").get(pk=obligation.pk)
    _member(user, o)
    check_obligation_transition(o.state, ObligationState.MET)
    t = core_templates.template(o.template)
    if t.rule.release_required:
        raise _refuse("identifier", f"{t.title} asks for a release ({t.rule.text}); a publication alone does not "
                                    "meet it")
    pub = openscience.check_publication(identifier)
    Evidence.objects.create(obligation=o, kind=EvidenceKind.PUBLICATION, identifier=pub.value, url=pub.url,
                            reasons=[f"{pub.kind} {pub.value}"], by=user)
    _move(o, ObligationState.MET, actor=user, reason=f"published: {pub.kind} {pub.value}")
    return o


def obligations_remind(*, today: date | None = None) -> list[Reminder]:
    """Send the reminders that are due today (module doc); each at most once."""
    today = today or timezone.localdate()
    sent: list[Reminder] = []
    pending = Obligation.objects.filter(state=ObligationState.PENDING).select_related("call", "organisation")
    for o in pending:
        left = (o.due_on - today).days
        if left < 0:
            mark = 0
        else:
            marks = [d for d in REMIND_DAYS_BEFORE if left <= d]
            if not marks:
                continue
            mark = min(marks)
        if o.reminders.filter(days_before=mark).exists():
            continue
        to = sorted({m.email for m in o.organisation.members.all() if m.email})
        what = (f"is overdue since {o.due_on}" if mark == 0 else f"is due on {o.due_on} ({left} day(s) left)")
        body = (f"The open-science obligation of {o.organisation.name} as a winner of {o.call.title} {what}.\n"
                f"Rule: {core_templates.template(o.template).rule.text}.\n"
                f"Report the release or the publication on the portal: /obligations/{o.pk}/\n")
        try:
            with transaction.atomic():
                reminder = Reminder.objects.create(obligation=o, days_before=mark, sent_to=to)
        except IntegrityError:
            continue
        for address in to:
            if address.strip():
                mail_send(to=[address], subject=f"[aifactory] Open-science obligation: {o.call.title}", body=body)
        sent.append(reminder)
    return sent
