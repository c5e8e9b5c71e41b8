"""Reads of the matchmaking context: who sees what, the proposed matches, what each side may see of the other.

Before both sides agree, a company sees a startup as "Startup S-<id>" with its capabilities only, and a startup
sees a challenge as "Company C-<id>"'s; names and contact details appear once the match is mutual."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Exists, OuterRef, QuerySet

from aifactory.core import matchmaking as core
from aifactory.portal.common.errors import NotFound
from aifactory.portal.matchmaking.choices import ChallengeState, MatchState
from aifactory.portal.matchmaking.models import Challenge, Match, StartupProfile
from aifactory.portal.organisations.models import Organisation

SHORTLIST = 5
PER_STARTUP = 3


def is_member(user: AbstractBaseUser | AnonymousUser, organisation: Organisation) -> bool:
    return bool(user.is_authenticated) and organisation.members.filter(pk=user.pk).exists()


def core_challenge(c: Challenge) -> core.Challenge:
    return core.Challenge(id=str(c.pk), sector=c.sector, models=frozenset(c.model_types),
                          data=frozenset(c.data_kinds), min_team=c.min_team)


def core_startup(p: StartupProfile) -> core.Startup:
    return core.Startup(id=str(p.pk), sectors=frozenset(p.sectors), models=frozenset(p.model_types),
                        data=frozenset(p.data_kinds), team=p.team_size)


def proposed() -> core.MatchResult:
    """The portal's proposals now: one assignment over every open challenge and every profile."""
    challenges = [core_challenge(c) for c in Challenge.objects.filter(state=ChallengeState.OPEN)]
    startups = [core_startup(p) for p in StartupProfile.objects.all()]
    return core.match(challenges, startups, per_challenge=SHORTLIST, per_startup=PER_STARTUP)


def challenges_open() -> QuerySet[Challenge]:
    return Challenge.objects.filter(state=ChallengeState.OPEN).select_related("organisation")


def challenge_get(*, user: AbstractBaseUser | AnonymousUser, pk: int) -> Challenge:
    c = Challenge.objects.select_related("organisation").filter(pk=pk).first()
    hidden = c is not None and c.state != ChallengeState.OPEN and not is_member(user, c.organisation)
    if c is None or not user.is_authenticated or hidden:
        raise NotFound(f"challenge {pk} not found")
    return c


def profiles_of(user: AbstractBaseUser | AnonymousUser) -> QuerySet[StartupProfile]:
    if not user.is_authenticated:
        return StartupProfile.objects.none()
    return StartupProfile.objects.filter(organisation__members=user).select_related("organisation")


def matches_of(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Match]:
    """The matches on the person's challenges or profiles, each with `company_side`: the person is a member of the
    challenge's company."""
    if not user.is_authenticated:
        return Match.objects.none()
    company = Organisation.members.through.objects.filter(organisation_id=OuterRef("challenge__organisation_id"),
                                                         user_id=user.pk)
    return (Match.objects.filter(challenge__organisation__members=user)
            | Match.objects.filter(profile__organisation__members=user)).distinct().select_related(
        "challenge__organisation", "profile__organisation", "company_contact", "startup_contact").annotate(
        company_side=Exists(company))


def match_get(*, user: AbstractBaseUser | AnonymousUser, pk: int) -> Match:
    m = matches_of(user).filter(pk=pk).first()
    if m is None:
        raise NotFound(f"match {pk} not found")
    return m


def _mutual(m: Match | None) -> bool:
    return m is not None and m.state in (MatchState.MUTUAL, MatchState.COLLABORATION)


def profile_view(p: StartupProfile, match: Match | None) -> dict[str, Any]:
    """What a company sees of a startup: capabilities; its name and contact only once the match is mutual."""
    row: dict[str, Any] = {"profile": p.pk, "name": p.pseudonym, "sectors": p.sectors, "model_types": p.model_types,
                           "data_kinds": p.data_kinds, "team_size": p.team_size, "summary": p.summary,
                           "contact": None}
    if _mutual(match) and match is not None and match.startup_contact is not None:
        row["name"] = p.organisation.name
        row["contact"] = {"name": match.startup_contact.get_full_name() or match.startup_contact.get_username(),
                          "email": match.startup_contact.email}
    return row


def challenge_view(c: Challenge, match: Match | None, *, own: bool = False) -> dict[str, Any]:
    """What a startup sees of a challenge: the problem; the company and contact only once the match is mutual."""
    row: dict[str, Any] = {"id": c.pk, "title": c.title, "description": c.description, "sector": c.sector,
                           "model_types": c.model_types, "data_kinds": c.data_kinds, "min_team": c.min_team,
                           "state": c.state, "company": f"Company C-{c.organisation_id}", "contact": None}
    if own or (_mutual(match) and match is not None and match.company_contact is not None):
        row["company"] = c.organisation.name
    if _mutual(match) and match is not None and match.company_contact is not None:
        row["contact"] = {"name": match.company_contact.get_full_name() or match.company_contact.get_username(),
                          "email": match.company_contact.email}
    return row


def shortlist_of(challenge: Challenge) -> list[dict[str, Any]]:
    """The challenge's proposed startups, ranked, with the reasons and the state of each match."""
    fits = proposed().shortlists.get(str(challenge.pk), ())
    profiles = StartupProfile.objects.in_bulk([int(f.startup) for f in fits])
    existing = {m.profile_id: m for m in challenge.matches.select_related("startup_contact", "company_contact")}
    rows = []
    for rank, f in enumerate(fits, start=1):
        p = profiles[int(f.startup)]
        m = existing.get(p.pk)
        rows.append({"rank": rank, "score": f.score, "reasons": list(f.reasons), "match": m.pk if m else None,
                     "state": m.state if m else MatchState.PROPOSED.value, **profile_view(p, m)})
    return rows


def suggestions_for(profile: StartupProfile) -> list[dict[str, Any]]:
    """The challenges proposed to a startup, ranked, with the reasons and the state of each match."""
    fits = proposed().proposals.get(str(profile.pk), ())
    challenges = Challenge.objects.select_related("organisation").in_bulk([int(f.challenge) for f in fits])
    existing = {m.challenge_id: m for m in profile.matches.select_related("startup_contact", "company_contact")}
    rows = []
    for rank, f in enumerate(fits, start=1):
        c = challenges[int(f.challenge)]
        m = existing.get(c.pk)
        rows.append({"rank": rank, "score": f.score, "reasons": list(f.reasons), "match": m.pk if m else None,
                     "match_state": m.state if m else MatchState.PROPOSED.value, **challenge_view(c, m)})
    return rows
