from __future__ import annotations

import re
from datetime import datetime
from decimal import Decimal
from typing import Any

from django.contrib.auth import authenticate, get_user_model
from django.http import HttpRequest
from ninja import Field, Router, Schema
from pydantic import field_validator

from aifactory.portal.common.errors import Forbidden, NotFound, Unauthorized
from aifactory.portal.common.responses import answer
from aifactory.portal.common.schemas import In
from aifactory.portal.organisations.auth import user_auth
from aifactory.portal.organisations.models import Invitation, Membership, Organisation, TeamEvent
from aifactory.portal.organisations.selectors import (
    invitation_open,
    may_manage_team,
    operator_factories,
    organisation_get,
    organisations_of,
    roles_of,
    team_events,
    team_invitations,
    team_members,
)
from aifactory.portal.organisations.services import (
    RelatedFigures,
    api_token_create,
    invitation_accept,
    invitation_revoke,
    invitation_send,
    membership_remove,
    membership_set_role,
    organisation_pledge,
    organisation_register,
    role_grant,
    user_signup,
)

router = Router(tags=["organisations"])


class SignupIn(In):
    username: str = Field(..., min_length=3, max_length=150, pattern=r"^[A-Za-z0-9@.+_-]+$")
    email: str = Field(..., max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
    password: str = Field(..., min_length=10, max_length=200)


class LoginIn(In):
    username: str = Field(..., max_length=150)
    password: str = Field(..., max_length=200)


class TokenOut(Schema):
    token: str


_UNIT = re.compile(r"[^0-9.eE+\-\s]")


def plain_euros(value: Any) -> Any:
    """Refuse an amount written with a unit or a currency sign ('1.5 M', '1500 k€', 'EUR 10'): euros only."""
    if isinstance(value, str) and _UNIT.search(value.strip()):
        raise ValueError(
            f"{value!r} is not a plain amount in euros; write it in euros as a number, e.g. 1500000, without "
            "'k', 'M', '€' or 'EUR'"
        )
    return value


class RelatedIn(In):
    name: str = Field(..., min_length=1, max_length=200)
    relation: str = Field(..., pattern=r"^(partner|linked)$", description="partner (25-50 % held) or linked (control)")
    headcount: Decimal = Field(..., ge=0, le=10_000_000, decimal_places=2, description="staff in annual work units")
    turnover_eur: Decimal = Field(..., ge=0, le=Decimal("1e13"), max_digits=16, decimal_places=2)
    balance_sheet_eur: Decimal = Field(..., ge=0, le=Decimal("1e13"), max_digits=16, decimal_places=2)
    share: Decimal = Field(Decimal(1), ge=0, le=1, decimal_places=4,
                           description="for a partner: the share held, 0.25 to 0.5")

    _euros = field_validator("turnover_eur", "balance_sheet_eur", mode="before")(plain_euros)


class RelatedOut(Schema):
    name: str
    relation: str
    headcount: float
    turnover_eur: Decimal
    balance_sheet_eur: Decimal
    share: float


class OrganisationIn(In):
    name: str = Field(..., min_length=2, max_length=200)
    country: str = Field(..., pattern=r"^[A-Za-z]{2}$", description="ISO 3166-1 alpha-2")
    headcount: Decimal = Field(..., ge=0, le=10_000_000, decimal_places=2,
                               description="staff in annual work units; fractions for part-time and seasonal staff")
    turnover_eur: Decimal = Field(..., ge=0, le=Decimal("1e13"), max_digits=16, decimal_places=2)
    balance_sheet_eur: Decimal = Field(..., ge=0, le=Decimal("1e13"), max_digits=16, decimal_places=2)
    sector: str = Field(..., min_length=2, max_length=100)
    related: list[RelatedIn] = Field(
        default_factory=list, max_length=50, description="partner and linked enterprises (their figures count)"
    )

    _euros = field_validator("turnover_eur", "balance_sheet_eur", mode="before")(plain_euros)


class OrganisationOut(Schema):
    """An organisation with its pledges and the partner and linked enterprises whose figures count."""

    id: int
    name: str
    country: str
    headcount: float
    turnover_eur: Decimal
    balance_sheet_eur: Decimal
    sector: str
    sme_category: str
    pledges: list[str]
    related: list[RelatedOut] = Field(..., alias="related_enterprises")

    @staticmethod
    def resolve_pledges(org: Organisation) -> list[str]:
        return sorted(p.pledge for p in org.pledges.all())


class PledgeIn(In):
    pledges: list[str] = Field(..., min_length=1, max_length=10)


@router.post("/auth/signup", response={201: TokenOut}, tags=["auth"])
def signup(request: HttpRequest, body: SignupIn) -> Any:
    user = user_signup(username=body.username, email=body.email, password=body.password)
    return answer(201, {"token": api_token_create(user=user)})


@router.post("/auth/token", response={201: TokenOut}, tags=["auth"])
def token(request: HttpRequest, body: LoginIn) -> Any:
    user = authenticate(request, username=body.username, password=body.password)
    if user is None:
        raise Unauthorized("username or password is wrong")
    return answer(201, {"token": api_token_create(user=user)})


@router.post("/organisations", response={201: OrganisationOut}, auth=user_auth)
def register(request: HttpRequest, body: OrganisationIn) -> Any:
    data = body.dict()
    related = [RelatedFigures(**r) for r in data.pop("related")]
    org = organisation_register(user=request.user, related=related, **data)
    return answer(201, org)


@router.get("/organisations", response=list[OrganisationOut], auth=user_auth)
def organisations(request: HttpRequest) -> list[Organisation]:
    return list(organisations_of(request.user).prefetch_related("pledges", "related_enterprises"))


@router.get("/organisations/{org_id}", response=OrganisationOut, auth=user_auth)
def organisation(request: HttpRequest, org_id: int) -> Organisation:
    return organisation_get(user=request.user, pk=org_id)


@router.post("/organisations/{org_id}/pledges", response=OrganisationOut, auth=user_auth)
def pledge(request: HttpRequest, org_id: int, body: PledgeIn) -> Organisation:
    org = organisation_get(user=request.user, pk=org_id)
    organisation_pledge(organisation=org, user=request.user, pledges=body.pledges)
    return org


class MeOut(Schema):
    """The person a token belongs to (a User), with their roles."""

    username: str = Field(..., alias="get_username")
    staff: bool = Field(..., alias="is_staff")
    roles: list[str]
    factories: list[str] = Field(..., description="the AI Factories the person operates")
    reviewer: bool
    organisations: list[int] = Field(..., description="the organisations whose team the person is in")

    @staticmethod
    def resolve_roles(user: Any) -> list[str]:
        return sorted(roles_of(user))

    @staticmethod
    def resolve_factories(user: Any) -> list[str]:
        return operator_factories(user)

    @staticmethod
    def resolve_reviewer(user: Any) -> bool:
        return hasattr(user, "reviewer")

    @staticmethod
    def resolve_organisations(user: Any) -> list[int]:
        return sorted(organisations_of(user).filter(members=user).values_list("pk", flat=True))


@router.get("/me", response=MeOut, auth=user_auth, tags=["auth"], summary="Who the token belongs to, and its roles")
def me(request: HttpRequest) -> Any:
    return request.user


class RoleIn(In):
    username: str = Field(..., max_length=150)
    role: str = Field(..., max_length=20)
    factory: str = Field("", max_length=40)


class RoleOut(Schema):
    """A role granted to a person (a UserRole)."""

    username: str = Field(..., alias="user.get_username")
    role: str
    factory: str


@router.post("/roles", response={201: RoleOut}, auth=user_auth, tags=["auth"], summary="Grant a role (staff only)")
def grant(request: HttpRequest, body: RoleIn) -> Any:
    if not request.user.is_staff:
        raise Forbidden("only staff grant roles")
    person = get_user_model().objects.filter(username=body.username).first()
    if person is None:
        raise NotFound(f"username: no user {body.username!r}", {"field": "username"})
    row = role_grant(user=person, role=body.role, factory=body.factory, granted_by=request.user)
    return answer(201, row)


# --- teams ------------------------------------------------------------------------------------------------------------


class MemberOut(Schema):
    """A person in the team (a Membership)."""

    username: str = Field(..., alias="user.get_username")
    name: str = Field(..., alias="user.get_full_name")
    email: str = Field(..., alias="user.email")
    role: str
    added_at: datetime


class InvitationIn(In):
    email: str = Field(..., max_length=254)
    role: str = Field("member", max_length=10, description="pi, member or contact")


class InvitationOut(Schema):
    """An invitation to join the team (an Invitation)."""

    id: int
    email: str
    role: str
    state: str
    open: bool = Field(..., description="it can still be accepted")
    invited_by: str = Field(..., alias="invited_by.get_username")
    created_at: datetime
    expires_at: datetime

    @staticmethod
    def resolve_open(invitation: Invitation) -> bool:
        return invitation_open(invitation)


class InvitationSentOut(InvitationOut):
    link: str = Field(..., description="the link that was e-mailed (shown to the inviter once)")


class SentInvitation:
    """An invitation as it was sent: the row, and the link that was e-mailed (kept nowhere but in the e-mail)."""

    def __init__(self, invitation: Invitation, link: str) -> None:
        self.invitation = invitation
        self.link = link

    def __getattr__(self, name: str) -> Any:
        return getattr(self.invitation, name)


class AcceptIn(In):
    token: str = Field(..., min_length=10, max_length=100)


class MembershipOut(Schema):
    """A person's place in a team (a Membership)."""

    organisation: int = Field(..., alias="organisation_id")
    username: str = Field(..., alias="user.get_username")
    role: str


class RoleChangeIn(In):
    role: str = Field(..., max_length=10, description="pi, member or contact")


class TeamEventOut(Schema):
    """A line of the team's audit log (a TeamEvent)."""

    at: datetime
    actor: str | None
    action: str
    subject: str
    role: str
    detail: str

    @staticmethod
    def resolve_actor(event: TeamEvent) -> str | None:
        return event.actor.get_username() if event.actor else None


def _team_org(request: HttpRequest, org_id: int, *, manage: bool = False) -> Organisation:
    org = organisation_get(user=request.user, pk=org_id)
    if manage and not may_manage_team(request.user, org):
        raise Forbidden("only the organisation's principal investigator (or staff) manages its team")
    return org


def _person(org: Organisation, username: str) -> Any:
    m = org.memberships.select_related("user").filter(user__username=username).first()
    if m is None:
        raise NotFound(f"username: {username!r} is not in this team", {"field": "username"})
    return m.user


@router.get("/organisations/{org_id}/members", response=list[MemberOut], auth=user_auth, tags=["teams"])
def members(request: HttpRequest, org_id: int) -> list[Membership]:
    return list(team_members(_team_org(request, org_id)))


@router.patch("/organisations/{org_id}/members/{username}", response=MemberOut, auth=user_auth, tags=["teams"],
              summary="Change a member's role (PI only)")
def member_role(request: HttpRequest, org_id: int, username: str, body: RoleChangeIn) -> Membership:
    org = _team_org(request, org_id, manage=True)
    return membership_set_role(organisation=org, user=_person(org, username), role=body.role, actor=request.user)


@router.delete("/organisations/{org_id}/members/{username}", response={204: None}, auth=user_auth, tags=["teams"],
               summary="Remove a member (PI only; anyone may leave)")
def member_remove(request: HttpRequest, org_id: int, username: str) -> Any:
    org = _team_org(request, org_id)
    membership_remove(organisation=org, user=_person(org, username), actor=request.user)
    return answer(204, None)


@router.get("/organisations/{org_id}/invitations", response=list[InvitationOut], auth=user_auth, tags=["teams"])
def invitations(request: HttpRequest, org_id: int) -> list[Invitation]:
    return list(team_invitations(_team_org(request, org_id, manage=True)))


@router.post("/organisations/{org_id}/invitations", response={201: InvitationSentOut}, auth=user_auth,
             tags=["teams"], summary="Invite a colleague by e-mail (PI only)")
def invite(request: HttpRequest, org_id: int, body: InvitationIn) -> Any:
    org = _team_org(request, org_id, manage=True)
    invitation, link = invitation_send(organisation=org, invited_by=request.user, email=body.email, role=body.role,
                                       base_url=request.build_absolute_uri("/"))
    return answer(201, SentInvitation(invitation, link))


@router.delete("/organisations/{org_id}/invitations/{invitation_id}", response=InvitationOut, auth=user_auth,
               tags=["teams"], summary="Revoke an invitation (PI only)")
def revoke(request: HttpRequest, org_id: int, invitation_id: int) -> Invitation:
    org = _team_org(request, org_id, manage=True)
    invitation = org.invitations.filter(pk=invitation_id).first()
    if invitation is None:
        raise NotFound(f"invitation {invitation_id} not found")
    return invitation_revoke(invitation=invitation, actor=request.user)


@router.post("/invitations/accept", response={201: MembershipOut}, auth=user_auth, tags=["teams"],
             summary="Accept an invitation (signed in, as the invited address)")
def accept(request: HttpRequest, body: AcceptIn) -> Any:
    m = invitation_accept(token=body.token, user=request.user)
    return answer(201, m)


@router.get("/organisations/{org_id}/team-log", response=list[TeamEventOut], auth=user_auth, tags=["teams"],
            summary="The team's audit log")
def team_log(request: HttpRequest, org_id: int) -> list[TeamEvent]:
    return list(team_events(_team_org(request, org_id)))
