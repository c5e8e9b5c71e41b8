"""Writes of the matchmaking context.

A match moves proposed -> company_interested | startup_interested -> mutual -> collaboration, or to declined
(choices.MATCH_TRANSITIONS), each move a MatchStateChange row:
    challenge_post      a member of an established company (medium-sized or large) posts a challenge in a sector
    challenge_close     its company closes it
    profile_save        a member of a startup or SME keeps its capability profile
    interest_express    either side says it is interested in a pair the portal proposes; when both are, the match is
                        mutual and each side's contact is shown to the other (and mailed)
    match_decline       either side ends it
    match_collaboration either side records that a mutual match led to a collaboration
"""

from __future__ import annotations

from collections.abc import Sequence

from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from django.utils import timezone

from aifactory.core import matchmaking as core
from aifactory.portal.common.errors import BadRequest, Forbidden
from aifactory.portal.mail.services import mail_send
from aifactory.portal.matchmaking.choices import ChallengeState, MatchState, check_match_transition
from aifactory.portal.matchmaking.models import Challenge, Match, MatchStateChange, StartupProfile
from aifactory.portal.matchmaking.selectors import core_challenge, core_startup, is_member, proposed
from aifactory.portal.organisations.models import Organisation

ESTABLISHED = frozenset({"medium", "large"})
STARTUPS = frozenset({"micro", "small", "medium"})


def _refuse(field: str, message: str) -> BadRequest:
    return BadRequest(f"{field}: {message}", {"field": field})


def _move(match: Match, target: MatchState, *, actor: AbstractBaseUser, reason: str) -> None:
    check_match_transition(match.state, target)
    MatchStateChange.objects.create(match=match, actor=actor, from_state=match.state, to_state=target.value,
                                    reason=reason)
    match.state = target.value
    match.save()


def _text(field: str, value: str, limit: int) -> str:
    value = value.strip()
    if not value:
        raise _refuse(field, "must not be empty")
    if len(value) > limit:
        raise _refuse(field, f"at most {limit} characters")
    return value


@transaction.atomic
def challenge_post(*, user: AbstractBaseUser, organisation: Organisation, title: str, description: str,
                   sector: str, model_types: Sequence[str], data_kinds: Sequence[str], min_team: int = 1) -> Challenge:
    if not is_member(user, organisation):
        raise Forbidden("you may post challenges only for your own organisations")
    if organisation.sme_category not in ESTABLISHED:
        raise _refuse("organisation", "challenges are posted by established companies (medium-sized or large); "
                      f"{organisation.name} is a {organisation.get_sme_category_display().lower()}")
    title = _text("title", title, 200)
    description = _text("description", description, 10_000)
    checked = core.Challenge(id="new", sector=sector, models=frozenset(model_types), data=frozenset(data_kinds),
                             min_team=min_team)
    return Challenge.objects.create(organisation=organisation, posted_by=user, title=title, description=description,
                                    sector=checked.sector, model_types=sorted(checked.models),
                                    data_kinds=sorted(checked.data), min_team=checked.min_team)


@transaction.atomic
def challenge_close(*, user: AbstractBaseUser, challenge: Challenge) -> Challenge:
    if not is_member(user, challenge.organisation):
        raise Forbidden("only the company that posted the challenge closes it")
    if challenge.state == ChallengeState.CLOSED:
        raise _refuse("state", "the challenge is closed already")
    challenge.state = ChallengeState.CLOSED
    challenge.save(update_fields=["state"])
    return challenge


@transaction.atomic
def profile_save(*, user: AbstractBaseUser, organisation: Organisation, sectors: Sequence[str],
                 model_types: Sequence[str], data_kinds: Sequence[str], team_size: int,
                 summary: str = "") -> StartupProfile:
    if not is_member(user, organisation):
        raise Forbidden("you may keep a profile only for your own organisations")
    if organisation.sme_category not in STARTUPS:
        raise _refuse("organisation", "capability profiles are for startups and SMEs; "
                      f"{organisation.name} is not an SME")
    if len(summary) > 5000:
        raise _refuse("summary", "at most 5000 characters")
    checked = core.Startup(id="new", sectors=frozenset(sectors), models=frozenset(model_types),
                           data=frozenset(data_kinds), team=team_size)
    profile, _ = StartupProfile.objects.update_or_create(organisation=organisation, defaults={
        "sectors": sorted(checked.sectors), "model_types": sorted(checked.models), "data_kinds": sorted(checked.data),
        "team_size": checked.team, "summary": summary.strip()})
    return profile


def _mail_contacts(match: Match) -> None:
    company, startup = match.company_contact, match.startup_contact
    if company is None or startup is None:
        return
    subject = f"[aifactory] Mutual interest: {match.challenge.title}"
    if not (company.email and startup.email):
        return
    mail_send(to=[company.email], subject=subject,
              body=f"{match.profile.organisation.name} is interested in your challenge too.\n"
                   f"Contact: {startup.get_full_name() or startup.get_username()} <{startup.email}>\n")
    mail_send(to=[startup.email], subject=subject,
              body=f"{match.challenge.organisation.name} is interested in working with you too.\n"
                   f"Contact: {company.get_full_name() or company.get_username()} <{company.email}>\n")


@transaction.atomic
def interest_express(*, user: AbstractBaseUser, challenge: Challenge, profile: StartupProfile) -> Match:
    """Say one side is interested in a pair the portal proposes (either side's member)."""
    company = is_member(user, challenge.organisation)
    startup = is_member(user, profile.organisation)
    if not company and not startup:
        raise Forbidden("only the challenge's company or the startup express interest")
    if challenge.state != ChallengeState.OPEN:
        raise _refuse("challenge", "the challenge is closed")
    match = Match.objects.select_for_update().filter(challenge=challenge, profile=profile).first()
    if match is None:
        shortlist = proposed().shortlists.get(str(challenge.pk), ())
        if str(profile.pk) not in {f.startup for f in shortlist}:
            raise _refuse("profile", "the portal does not propose this pair (see the challenge's ranked matches)")
        fit = core.fit(core_challenge(challenge), core_startup(profile))
        match = Match.objects.create(challenge=challenge, profile=profile, score=fit.score, reasons=list(fit.reasons))
        MatchStateChange.objects.create(match=match, actor=user, from_state="", to_state=match.state,
                                        reason="proposed by the portal")
    side = MatchState.COMPANY_INTERESTED if company else MatchState.STARTUP_INTERESTED
    other = MatchState.STARTUP_INTERESTED if company else MatchState.COMPANY_INTERESTED
    if company:
        match.company_contact = user
    else:
        match.startup_contact = user
    if match.state == other:
        match.mutual_at = timezone.now()
        _move(match, MatchState.MUTUAL, actor=user, reason="both sides interested: contacts exchanged")
        transaction.on_commit(lambda: _mail_contacts(match))
    else:
        _move(match, side, actor=user, reason="interested")
    return match


def _side(user: AbstractBaseUser, match: Match) -> None:
    if not (is_member(user, match.challenge.organisation) or is_member(user, match.profile.organisation)):
        raise Forbidden("only the two sides of a match act on it")


@transaction.atomic
def match_decline(*, user: AbstractBaseUser, match: Match, reason: str = "") -> Match:
    _side(user, match)
    _move(match, MatchState.DECLINED, actor=user, reason=reason.strip()[:1000] or "declined")
    return match


@transaction.atomic
def match_collaboration(*, user: AbstractBaseUser, match: Match, note: str = "") -> Match:
    _side(user, match)
    match.collaboration_at = timezone.now()
    _move(match, MatchState.COLLABORATION, actor=user, reason=note.strip()[:1000] or "collaboration started")
    return match
