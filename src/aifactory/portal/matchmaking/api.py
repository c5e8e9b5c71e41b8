"""GenAI4EU matchmaking under /api/v1/matchmaking."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Field, Router

from aifactory.core import matchmaking as core
from aifactory.portal.common.errors import NotFound
from aifactory.portal.common.responses import answer
from aifactory.portal.common.schemas import In
from aifactory.portal.matchmaking.models import Match, StartupProfile
from aifactory.portal.matchmaking.selectors import (
    challenge_get,
    challenge_view,
    challenges_open,
    is_member,
    match_get,
    matches_of,
    profile_view,
    profiles_of,
    shortlist_of,
    suggestions_for,
)
from aifactory.portal.matchmaking.services import (
    challenge_close,
    challenge_post,
    interest_express,
    match_collaboration,
    match_decline,
    profile_save,
)
from aifactory.portal.organisations.auth import user_auth
from aifactory.portal.organisations.selectors import organisation_get

router = Router(tags=["matchmaking"], auth=user_auth)


class ChallengeIn(In):
    organisation: int = Field(..., ge=1, strict=True)
    title: str = Field(..., min_length=1, max_length=200)
    description: str = Field(..., min_length=1, max_length=10_000)
    sector: str = Field(..., max_length=40)
    model_types: list[str] = Field(default_factory=list, max_length=20)
    data_kinds: list[str] = Field(default_factory=list, max_length=20)
    min_team: int = Field(1, ge=1, le=10_000, strict=True)


class ProfileIn(In):
    organisation: int = Field(..., ge=1, strict=True)
    sectors: list[str] = Field(..., min_length=1, max_length=20)
    model_types: list[str] = Field(default_factory=list, max_length=20)
    data_kinds: list[str] = Field(default_factory=list, max_length=20)
    team_size: int = Field(..., ge=1, le=10_000, strict=True)
    summary: str = Field("", max_length=5000)


class InterestIn(In):
    profile: int = Field(..., ge=1, strict=True)


class NoteIn(In):
    note: str = Field("", max_length=1000)


def _match_out(m: Match, user: Any) -> dict[str, Any]:
    company = is_member(user, m.challenge.organisation)
    return {"id": m.pk, "state": m.state, "score": m.score, "reasons": m.reasons,
            "side": "company" if company else "startup",
            "challenge": challenge_view(m.challenge, m, own=company), "startup": profile_view(m.profile, m),
            "mutual_at": m.mutual_at, "collaboration_at": m.collaboration_at}


@router.get("/matchmaking/vocabulary", auth=None, response=dict[str, Any])
def vocabulary(request: HttpRequest) -> Any:
    """The strategic sectors, model types and data kinds profiles and challenges are written in."""
    return {"sectors": list(core.SECTORS), "model_types": list(core.MODEL_TYPES), "data_kinds": list(core.DATA_KINDS),
            "sectors_source": "European Commission, AI innovation package (January 2024), GenAI4EU strategic sectors"}


@router.get("/matchmaking/challenges", response=list[dict[str, Any]])
def challenges(request: HttpRequest) -> Any:
    """Open challenges, the company shown by a pseudonym unless it is one's own."""
    return [challenge_view(c, None, own=is_member(request.user, c.organisation)) for c in challenges_open()]


@router.post("/matchmaking/challenges", response={201: dict[str, Any]})
def challenges_post(request: HttpRequest, payload: ChallengeIn) -> Any:
    org = organisation_get(user=request.user, pk=payload.organisation)
    c = challenge_post(user=request.user, organisation=org, title=payload.title, description=payload.description,
                       sector=payload.sector, model_types=payload.model_types, data_kinds=payload.data_kinds,
                       min_team=payload.min_team)
    return answer(201, challenge_view(c, None, own=True))


@router.get("/matchmaking/challenges/{pk}", response=dict[str, Any])
def challenge_detail(request: HttpRequest, pk: int) -> Any:
    c = challenge_get(user=request.user, pk=pk)
    return challenge_view(c, None, own=is_member(request.user, c.organisation))


@router.get("/matchmaking/challenges/{pk}/matches", response=list[dict[str, Any]])
def challenge_matches(request: HttpRequest, pk: int) -> Any:
    """The startups the portal proposes for the challenge, ranked with reasons (its company only)."""
    c = challenge_get(user=request.user, pk=pk)
    if not is_member(request.user, c.organisation):
        raise NotFound(f"challenge {pk} has no matches of yours")
    return shortlist_of(c)


@router.post("/matchmaking/challenges/{pk}/close", response=dict[str, Any])
def challenge_close_api(request: HttpRequest, pk: int) -> Any:
    c = challenge_close(user=request.user, challenge=challenge_get(user=request.user, pk=pk))
    return challenge_view(c, None, own=True)


@router.post("/matchmaking/challenges/{pk}/interest", response=dict[str, Any])
def challenge_interest(request: HttpRequest, pk: int, payload: InterestIn) -> Any:
    """Either side's interest in the pair (challenge, profile)."""
    c = challenge_get(user=request.user, pk=pk)
    profile = StartupProfile.objects.select_related("organisation").filter(pk=payload.profile).first()
    if profile is None:
        raise NotFound(f"profile {payload.profile} not found")
    return _match_out(interest_express(user=request.user, challenge=c, profile=profile), request.user)


@router.get("/matchmaking/profiles", response=list[dict[str, Any]])
def my_profiles(request: HttpRequest) -> Any:
    return [{**profile_view(p, None), "organisation": p.organisation_id} for p in profiles_of(request.user)]


@router.post("/matchmaking/profiles", response=dict[str, Any])
def profiles_save(request: HttpRequest, payload: ProfileIn) -> Any:
    org = organisation_get(user=request.user, pk=payload.organisation)
    p = profile_save(user=request.user, organisation=org, sectors=payload.sectors, model_types=payload.model_types,
                     data_kinds=payload.data_kinds, team_size=payload.team_size, summary=payload.summary)
    return {**profile_view(p, None), "organisation": org.pk}


@router.get("/matchmaking/profiles/{pk}/suggestions", response=list[dict[str, Any]])
def profile_suggestions(request: HttpRequest, pk: int) -> Any:
    """The challenges the portal proposes to one of the person's startups, ranked with reasons."""
    p = profiles_of(request.user).filter(pk=pk).first()
    if p is None:
        raise NotFound(f"profile {pk} not found")
    return suggestions_for(p)


@router.get("/matchmaking/matches", response=list[dict[str, Any]])
def matches(request: HttpRequest) -> Any:
    return [_match_out(m, request.user) for m in matches_of(request.user)]


@router.get("/matchmaking/matches/{pk}", response=dict[str, Any])
def match_detail(request: HttpRequest, pk: int) -> Any:
    return _match_out(match_get(user=request.user, pk=pk), request.user)


@router.post("/matchmaking/matches/{pk}/decline", response=dict[str, Any])
def match_decline_api(request: HttpRequest, pk: int, payload: NoteIn) -> Any:
    m = match_decline(user=request.user, match=match_get(user=request.user, pk=pk), reason=payload.note)
    return _match_out(m, request.user)


@router.post("/matchmaking/matches/{pk}/collaboration", response=dict[str, Any])
def match_collaboration_api(request: HttpRequest, pk: int, payload: NoteIn) -> Any:
    m = match_collaboration(user=request.user, match=match_get(user=request.user, pk=pk), note=payload.note)
    return _match_out(m, request.user)
