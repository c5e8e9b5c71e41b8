"""GenAI4EU matchmaking under /api/v1/matchmaking."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest
from ninja import Field, Router, Schema

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


class VocabularyOut(Schema):
    sectors: list[str]
    model_types: list[str]
    data_kinds: list[str]
    sectors_source: str


class ContactOut(Schema):
    name: str
    email: str


class ChallengeOut(Schema):
    """A challenge as the person sees it: the company by a pseudonym and no contact until the match is mutual
    (its own company sees its name)."""

    id: int
    title: str
    description: str
    sector: str
    model_types: list[str]
    data_kinds: list[str]
    min_team: int
    state: str
    company: str
    contact: ContactOut | None


class StartupOut(Schema):
    """A startup as a company sees it: capabilities; its name and contact only once the match is mutual."""

    profile: int
    name: str
    sectors: list[str]
    model_types: list[str]
    data_kinds: list[str]
    team_size: int
    summary: str
    contact: ContactOut | None


class ProfileOut(Schema):
    """One of the person's startup profiles, as companies see it before a match is mutual."""

    profile: int = Field(..., alias="pk")
    name: str = Field(..., alias="pseudonym")
    sectors: list[str]
    model_types: list[str]
    data_kinds: list[str]
    team_size: int
    summary: str
    contact: ContactOut | None = None
    organisation: int = Field(..., alias="organisation_id")


class ShortlistOut(Schema):
    """A startup the portal proposes for a challenge, ranked, with the reasons and the state of its match."""

    rank: int
    score: float
    reasons: list[str]
    match: int | None
    state: str
    profile: int
    name: str
    sectors: list[str]
    model_types: list[str]
    data_kinds: list[str]
    team_size: int
    summary: str
    contact: ContactOut | None


class SuggestionOut(Schema):
    """A challenge the portal proposes to a startup, ranked, with the reasons and the state of its match."""

    rank: int
    score: float
    reasons: list[str]
    match: int | None
    match_state: str
    id: int
    title: str
    description: str
    sector: str
    model_types: list[str]
    data_kinds: list[str]
    min_team: int
    state: str
    company: str
    contact: ContactOut | None


class MatchOut(Schema):
    """A match as either side sees it (`side`): the other side by a pseudonym until both agree."""

    id: int
    state: str
    score: float
    reasons: list[str]
    side: str = Field(..., description="company or startup: the person's side of the match")
    challenge: ChallengeOut
    startup: StartupOut
    mutual_at: datetime | None
    collaboration_at: datetime | None

    @staticmethod
    def resolve_side(m: Match) -> str:
        return "company" if m.company_side else "startup"

    @staticmethod
    def resolve_challenge(m: Match) -> dict[str, Any]:
        return challenge_view(m.challenge, m, own=m.company_side)

    @staticmethod
    def resolve_startup(m: Match) -> dict[str, Any]:
        return profile_view(m.profile, m)


@router.get("/matchmaking/vocabulary", auth=None, response=VocabularyOut)
def vocabulary(request: HttpRequest) -> Any:
    """The strategic sectors, model types and data kinds profiles and challenges are written in."""
    return {"sectors": list(core.SECTORS), "model_types": list(core.MODEL_TYPES), "data_kinds": list(core.DATA_KINDS),
            "sectors_source": "European Commission, AI innovation package (January 2024), GenAI4EU strategic sectors"}


@router.get("/matchmaking/challenges", response=list[ChallengeOut])
def challenges(request: HttpRequest) -> Any:
    """Open challenges, the company shown by a pseudonym unless it is one's own."""
    return [challenge_view(c, None, own=is_member(request.user, c.organisation)) for c in challenges_open()]


@router.post("/matchmaking/challenges", response={201: ChallengeOut})
def challenges_post(request: HttpRequest, payload: ChallengeIn) -> Any:
    org = organisation_get(user=request.user, pk=payload.organisation)
    c = challenge_post(user=request.user, organisation=org, title=payload.title, description=payload.description,
                       sector=payload.sector, model_types=payload.model_types, data_kinds=payload.data_kinds,
                       min_team=payload.min_team)
    return answer(201, challenge_view(c, None, own=True))


@router.get("/matchmaking/challenges/{pk}", response=ChallengeOut)
def challenge_detail(request: HttpRequest, pk: int) -> Any:
    c = challenge_get(user=request.user, pk=pk)
    return challenge_view(c, None, own=is_member(request.user, c.organisation))


@router.get("/matchmaking/challenges/{pk}/matches", response=list[ShortlistOut])
def challenge_matches(request: HttpRequest, pk: int) -> Any:
    """The startups the portal proposes for the challenge, ranked with reasons (its company only)."""
    c = challenge_get(user=request.user, pk=pk)
    if not is_member(request.user, c.organisation):
        raise NotFound(f"challenge {pk} has no matches of yours")
    return shortlist_of(c)


@router.post("/matchmaking/challenges/{pk}/close", response=ChallengeOut)
def challenge_close_api(request: HttpRequest, pk: int) -> Any:
    c = challenge_close(user=request.user, challenge=challenge_get(user=request.user, pk=pk))
    return challenge_view(c, None, own=True)


@router.post("/matchmaking/challenges/{pk}/interest", response=MatchOut)
def challenge_interest(request: HttpRequest, pk: int, payload: InterestIn) -> Any:
    """Either side's interest in the pair (challenge, profile)."""
    c = challenge_get(user=request.user, pk=pk)
    profile = StartupProfile.objects.select_related("organisation").filter(pk=payload.profile).first()
    if profile is None:
        raise NotFound(f"profile {payload.profile} not found")
    m = interest_express(user=request.user, challenge=c, profile=profile)
    return match_get(user=request.user, pk=m.pk)


@router.get("/matchmaking/profiles", response=list[ProfileOut])
def my_profiles(request: HttpRequest) -> Any:
    return list(profiles_of(request.user))


@router.post("/matchmaking/profiles", response=ProfileOut)
def profiles_save(request: HttpRequest, payload: ProfileIn) -> Any:
    org = organisation_get(user=request.user, pk=payload.organisation)
    p = profile_save(user=request.user, organisation=org, sectors=payload.sectors, model_types=payload.model_types,
                     data_kinds=payload.data_kinds, team_size=payload.team_size, summary=payload.summary)
    return p


@router.get("/matchmaking/profiles/{pk}/suggestions", response=list[SuggestionOut])
def profile_suggestions(request: HttpRequest, pk: int) -> Any:
    """The challenges the portal proposes to one of the person's startups, ranked with reasons."""
    p = profiles_of(request.user).filter(pk=pk).first()
    if p is None:
        raise NotFound(f"profile {pk} not found")
    return suggestions_for(p)


@router.get("/matchmaking/matches", response=list[MatchOut])
def matches(request: HttpRequest) -> Any:
    return list(matches_of(request.user))


@router.get("/matchmaking/matches/{pk}", response=MatchOut)
def match_detail(request: HttpRequest, pk: int) -> Any:
    return match_get(user=request.user, pk=pk)


@router.post("/matchmaking/matches/{pk}/decline", response=MatchOut)
def match_decline_api(request: HttpRequest, pk: int, payload: NoteIn) -> Any:
    match_decline(user=request.user, match=match_get(user=request.user, pk=pk), reason=payload.note)
    return match_get(user=request.user, pk=pk)


@router.post("/matchmaking/matches/{pk}/collaboration", response=MatchOut)
def match_collaboration_api(request: HttpRequest, pk: int, payload: NoteIn) -> Any:
    match_collaboration(user=request.user, match=match_get(user=request.user, pk=pk), note=payload.note)
    return match_get(user=request.user, pk=pk)
