from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any, TypeVar

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db.models import Model, Q, QuerySet
from django.utils import timezone

from aifactory.core.eligibility import is_established_eligible, load_countries
from aifactory.core.exceptions import InvalidInput
from aifactory.portal.common import tokens
from aifactory.portal.common.errors import BadRequest, Conflict, Forbidden, NotFound
from aifactory.portal.organisations.choices import InvitationState, Role, TeamRole
from aifactory.portal.organisations.models import ApiToken, Invitation, Membership, Organisation, TeamEvent, UserRole


def country_code(country: str, *, field: str = "country") -> str:
    """The canonical ISO 3166-1 alpha-2 code of `country` (any case; the EU's aliases UK and EL as GB and GR), the
    form in which countries are stored and compared; a 400 naming `field` for an unknown code."""
    try:
        return load_countries().code(country)
    except InvalidInput:
        raise BadRequest(f"{field}: unknown country code {country!r} (ISO 3166-1 alpha-2 expected)",
                         {"field": field}) from None


def country_known(country: str) -> bool:
    try:
        is_established_eligible(country, timezone.localdate())
    except InvalidInput:
        return False
    return True


def organisations_of(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Organisation]:
    if not user.is_authenticated:
        return Organisation.objects.none()
    if user.is_staff:
        return Organisation.objects.all()
    return Organisation.objects.filter(members=user)


def organisation_get(*, user: AbstractBaseUser | AnonymousUser, pk: int) -> Organisation:
    org = organisations_of(user).filter(pk=pk).first()
    if org is None:
        raise NotFound(f"organisation {pk} not found")
    return org


def organisations_acted_for(user: AbstractBaseUser | AnonymousUser) -> QuerySet[Organisation]:
    """The organisations a person acts for (applies for access, submits jobs): those they are a member of. Staff
    read every organisation (organisations_of) but act only for their own: one rule for the API and the pages."""
    if not user.is_authenticated:
        return Organisation.objects.none()
    return Organisation.objects.filter(members=user)


def organisation_chosen(*, user: AbstractBaseUser | AnonymousUser, pk: int | None, what: str) -> Organisation:
    """The organisation a person names for `what` ("the job runs for", "the run is for"), or, when they name none,
    the one organisation they act for. 404 for one they cannot read; 409 for no organisation; 400 for several."""
    if pk is not None:
        return organisation_get(user=user, pk=pk)
    mine = list(organisations_acted_for(user).order_by("pk")[:2])
    if not mine:
        raise Conflict("organisation: you belong to no organisation yet; register one first", {"field": "organisation"})
    if len(mine) > 1:
        raise BadRequest(f"organisation: you belong to several organisations; say which one {what}",
                         {"field": "organisation"})
    return mine[0]


def check_acts_for(user: AbstractBaseUser | AnonymousUser, organisation_id: int) -> None:
    """Refuse unless the person is a member of the organisation (organisations_acted_for)."""
    if not organisations_acted_for(user).filter(pk=organisation_id).exists():
        raise Forbidden("organisation: only its members act for an organisation (apply for access, submit jobs)",
                        {"field": "organisation"})


def api_token_of(token: str) -> ApiToken | None:
    """The token's row with its person (one query), or None when it is unknown or its person is inactive."""
    row = ApiToken.objects.select_related("user").filter(digest=tokens.digest(token)).first()
    if row is None or not row.user.is_active:
        return None
    return row


def user_by_token(token: str) -> AbstractBaseUser | None:
    row = api_token_of(token)
    return None if row is None else row.user


# --- roles ------------------------------------------------------------------------------------------------------------


def roles_of(user: AbstractBaseUser | AnonymousUser) -> set[str]:
    """The roles granted to the person (staff hold every role but factory operator's, which names a factory)."""
    if not user.is_authenticated:
        return set()
    granted = set(UserRole.objects.filter(user=user).values_list("role", flat=True))
    if user.is_staff:
        granted |= {Role.CALL_MANAGER.value, Role.OBSERVER.value}
    return granted


def is_call_manager(user: AbstractBaseUser | AnonymousUser) -> bool:
    return Role.CALL_MANAGER.value in roles_of(user)


def may_see_aggregates(user: AbstractBaseUser | AnonymousUser) -> bool:
    """Observers, call managers and staff see the portal's aggregate figures."""
    return bool(roles_of(user) & {Role.OBSERVER.value, Role.CALL_MANAGER.value})


def operator_factories(user: AbstractBaseUser | AnonymousUser) -> list[str]:
    """The AI Factories the person operates."""
    if not user.is_authenticated:
        return []
    return sorted(
        UserRole.objects.filter(user=user, role=Role.FACTORY_OPERATOR).values_list("factory", flat=True)
    )


# --- eligibility, as the profile page shows it ------------------------------------------------------------------------


def organisation_eligibility(organisation: Organisation, on: date | None = None) -> dict[str, Any]:
    """Whether the organisation's country of establishment makes it eligible today, on what record, or why not."""
    on = on or timezone.localdate()
    countries = load_countries()
    try:
        code = countries.code(organisation.country)
    except InvalidInput:
        return {"eligible": False, "country": organisation.country, "basis": None,
                "reason": f"{organisation.country!r} is not a known country code."}
    basis = countries.basis(code, on)
    name = countries.names[code]
    if basis is None:
        reason = (f"Organisations established in {name} ({code}) are not eligible on {on.isoformat()}: access is open "
                  "to organisations established in an EU member state or in a country associated to Horizon Europe "
                  "or the Digital Europe Programme.")
    elif basis.status == "member":
        reason = f"{name} is a member state of the {basis.programme} (since {basis.start.isoformat()})."
    else:
        reason = f"{name} is associated to {basis.programme} (since {basis.start.isoformat()})."
    return {"eligible": basis is not None, "country": name, "code": code, "basis": basis, "reason": reason, "on": on}


RowT = TypeVar("RowT", bound=Model)


def readable_by(user: AbstractBaseUser | AnonymousUser, qs: QuerySet[RowT], *, organisation: str, factory: str,
                also: Mapping[str, object] | None = None) -> QuerySet[RowT]:
    """The rows a person may read: none before signing in; all for staff and call managers; otherwise their
    organisations' rows (`organisation` is the lookup to the organisation) and, for a factory operator, the rows on
    their AI Factories' machines (`factory` is the lookup to the machine's factory, `also` more conditions on the
    same related row)."""
    if not user.is_authenticated:
        return qs.none()
    if user.is_staff or is_call_manager(user):
        return qs
    visible = Q(**{f"{organisation}__members": user})
    factories = operator_factories(user)
    if factories:
        visible |= Q(**{f"{factory}__in": factories, **(also or {})})
    return qs.filter(visible).distinct()


# --- teams ------------------------------------------------------------------------------------------------------------


def team_role(user: AbstractBaseUser | AnonymousUser, organisation: Organisation) -> str | None:
    """The person's role in the organisation's team, or None."""
    if not user.is_authenticated:
        return None
    return Membership.objects.filter(organisation=organisation, user=user).values_list("role", flat=True).first()


def may_manage_team(user: AbstractBaseUser | AnonymousUser, organisation: Organisation) -> bool:
    """The organisation's principal investigators and staff invite, remove and change roles."""
    if not user.is_authenticated:
        return False
    return bool(user.is_staff) or team_role(user, organisation) == TeamRole.PI


def team_members(organisation: Organisation) -> QuerySet[Membership]:
    return organisation.memberships.select_related("user").order_by("role", "user__username")


def team_invitations(organisation: Organisation) -> QuerySet[Invitation]:
    return organisation.invitations.select_related("invited_by", "accepted_by")


def team_events(organisation: Organisation) -> QuerySet[TeamEvent]:
    return organisation.team_events.select_related("actor")


def invitation_by_token(token: str) -> Invitation | None:
    """The invitation a link carries (any state; the accepting service says what is wrong with it)."""
    return Invitation.objects.select_related("organisation", "invited_by").filter(
        token_digest=tokens.digest(token)).first()


def invitation_open(invitation: Invitation) -> bool:
    return invitation.state == InvitationState.PENDING and invitation.expires_at > timezone.now()


def organisations_with_member(user: AbstractBaseUser | AnonymousUser, *, role: str | None = None
                              ) -> QuerySet[Organisation]:
    """The organisations the person is in (optionally with one role), whether or not they are staff."""
    if not user.is_authenticated:
        return Organisation.objects.none()
    qs = Membership.objects.filter(user=user)
    if role is not None:
        qs = qs.filter(role=role)
    return Organisation.objects.filter(pk__in=qs.values("organisation_id"))


def operator_addresses(factory: str) -> list[str]:
    """The e-mail addresses of an AI Factory's operators (for the escalations of its support centre)."""
    rows = UserRole.objects.filter(role=Role.FACTORY_OPERATOR, factory=factory).exclude(user__email="")
    return list(dict.fromkeys(rows.order_by("user__username").values_list("user__email", flat=True)))


def team_addresses(organisation: Organisation, *, roles: tuple[str, ...] = (TeamRole.PI, TeamRole.CONTACT)
                   ) -> list[str]:
    """The e-mail addresses of the team's people in these roles (by default the PIs and the contacts), for
    notices."""
    rows = organisation.memberships.filter(role__in=roles).exclude(user__email="").order_by("user__username")
    return list(dict.fromkeys(rows.values_list("user__email", flat=True)))
