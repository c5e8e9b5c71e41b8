"""Writes of the organisations context: people, organisations, pledges, tokens."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from aifactory.core.catalog import load_catalog
from aifactory.core.eligibility import Enterprise, sme_category
from aifactory.core.eligibility import Relation as CoreRelation
from aifactory.core.exceptions import InvalidInput, InvalidTransition
from aifactory.portal.common import tokens
from aifactory.portal.common.errors import BadRequest, Conflict, Forbidden, Gone, NotFound
from aifactory.portal.mail.choices import MailKind
from aifactory.portal.mail.services import mail_send
from aifactory.portal.organisations.choices import (
    INVITATION_MOVES,
    InvitationMove,
    InvitationState,
    Pledge,
    Relation,
    Role,
    TeamAction,
    TeamRole,
)
from aifactory.portal.organisations.models import (
    ApiToken,
    FederatedIdentity,
    Invitation,
    Membership,
    Organisation,
    PactPledge,
    RelatedEnterprise,
    TeamEvent,
    UserRole,
)
from aifactory.portal.organisations.selectors import country_code, may_manage_team

User = get_user_model()


@transaction.atomic
def user_signup(*, username: str, email: str, password: str) -> AbstractBaseUser:
    username = username.strip()
    if User.objects.filter(username__iexact=username).exists():
        raise Conflict(f"username: {username!r} is taken", {"field": "username"})
    try:
        validate_password(password)
    except ValidationError as exc:
        raise BadRequest("password: " + " ".join(exc.messages), {"field": "password"}) from exc
    try:
        with transaction.atomic():
            return User.objects.create_user(username=username, email=email, password=password)
    except IntegrityError as exc:  # the same name taken by a sign-up at the same moment
        raise Conflict(f"username: {username!r} is taken", {"field": "username"}) from exc


def api_token_create(*, user: AbstractBaseUser, name: str = "default") -> str:
    token = tokens.new_token("u")
    ApiToken.objects.create(user=user, name=name, digest=tokens.digest(token))
    return token


# An amount above this is no enterprise's turnover or balance sheet: most likely a figure in the wrong unit.
MAX_EUR = Decimal("1e12")


@dataclass(frozen=True)
class RelatedFigures:
    """A partner or linked enterprise as given by the applicant."""

    name: str
    relation: str
    headcount: Decimal
    turnover_eur: Decimal
    balance_sheet_eur: Decimal
    share: Decimal = Decimal(1)


TOKEN_USE_RESOLUTION_S = 60
"""A token's last use is written at most once in this many seconds: `last_used_at` is at most this stale."""


def api_token_mark_used(*, token: ApiToken) -> bool:
    """Record that the token was just used, unless that was recorded less than TOKEN_USE_RESOLUTION_S ago (most
    requests then write nothing). The UPDATE is conditional, so concurrent requests write it once."""
    now = timezone.now()
    stale = now - timedelta(seconds=TOKEN_USE_RESOLUTION_S)
    if token.last_used_at is not None and token.last_used_at > stale:
        return False
    updated = ApiToken.objects.filter(pk=token.pk).filter(
        Q(last_used_at__isnull=True) | Q(last_used_at__lte=stale)).update(last_used_at=now)
    token.last_used_at = now
    return bool(updated)


def _plausible_eur(value: Decimal, field: str) -> None:
    if value > MAX_EUR:
        raise BadRequest(
            f"{field}: {value:,.0f} EUR is more than any enterprise's; give the amount in euros, not cents or another "
            "unit",
            {"field": field},
        )


@transaction.atomic
def organisation_register(
    *,
    user: AbstractBaseUser,
    name: str,
    country: str,
    headcount: Decimal | int,
    turnover_eur: Decimal,
    balance_sheet_eur: Decimal,
    sector: str,
    related: Sequence[RelatedFigures] = (),
) -> Organisation:
    """Register an organisation and classify it (SME category with its partner and linked enterprises, computed
    exactly). The country is stored as its canonical code (UK as GB, EL as GR), the code every comparison reads."""
    country = country_code(country)
    _plausible_eur(turnover_eur, "turnover_eur")
    _plausible_eur(balance_sheet_eur, "balance_sheet_eur")
    enterprises = []
    for i, other in enumerate(related):
        where = f"related[{i}]"
        if other.relation not in Relation.values:
            raise BadRequest(f"{where}.relation: must be 'partner' or 'linked'", {"field": f"{where}.relation"})
        _plausible_eur(other.turnover_eur, f"{where}.turnover_eur")
        _plausible_eur(other.balance_sheet_eur, f"{where}.balance_sheet_eur")
        share = Decimal(other.share) if other.relation == Relation.PARTNER else Decimal(1)
        enterprises.append(Enterprise(
            relation=CoreRelation(other.relation), headcount=Decimal(other.headcount), turnover_eur=other.turnover_eur,
            balance_sheet_eur=other.balance_sheet_eur, share=share,
        ))
    try:
        category = sme_category(headcount, turnover_eur, balance_sheet_eur, enterprises)
    except InvalidInput as exc:
        field = exc.field.replace("partners[", "related[")
        raise BadRequest(f"{field}: {exc.message.split(': ', 1)[-1]}", {"field": field}) from exc
    org = Organisation.objects.create(
        name=name.strip(),
        country=country,
        headcount=headcount,
        turnover_eur=turnover_eur,
        balance_sheet_eur=balance_sheet_eur,
        sector=sector.strip(),
        sme_category=str(category),
    )
    for other, enterprise in zip(related, enterprises, strict=True):
        RelatedEnterprise.objects.create(
            organisation=org, name=other.name.strip(), relation=other.relation, headcount=other.headcount,
            turnover_eur=other.turnover_eur, balance_sheet_eur=other.balance_sheet_eur, share=enterprise.share,
        )
    Membership.objects.create(organisation=org, user=user, role=TeamRole.PI, added_by=user)
    _audit(organisation=org, actor=user, action=TeamAction.CREATED, subject=user.get_username(), role=TeamRole.PI)
    return org


def organisation_pledge(*, organisation: Organisation, user: AbstractBaseUser, pledges: list[str]) -> list[str]:
    """Record AI Pact pledges; pledging again is harmless. Returns the organisation's pledges."""
    unknown = [p for p in pledges if p not in Pledge.values]
    if unknown:
        known = ", ".join(Pledge.values)
        raise BadRequest(f"pledges: unknown pledge {unknown[0]!r}; known: {known}", {"field": "pledges"})
    for p in pledges:
        try:
            with transaction.atomic():
                PactPledge.objects.create(organisation=organisation, pledge=p, pledged_by=user)
        except IntegrityError:
            pass
    return sorted(organisation.pledges.values_list("pledge", flat=True))


@transaction.atomic
def role_grant(
    *, user: AbstractBaseUser, role: str, granted_by: AbstractBaseUser | None, factory: str = ""
) -> UserRole:
    """Grant a role; a factory operator's names the catalog's AI Factory it operates. Granting again is harmless."""
    if role not in Role.values:
        raise BadRequest(f"role: unknown role {role!r}; known: {', '.join(Role.values)}", {"field": "role"})
    factory = factory.strip()
    if role == Role.FACTORY_OPERATOR:
        try:
            load_catalog().factory(factory)
        except InvalidInput as exc:
            raise BadRequest(f"factory: {exc.message.split(': ', 1)[-1]}", {"field": "factory"}) from exc
    elif factory:
        raise BadRequest("factory: only a factory operator's role names a factory", {"field": "factory"})
    row, _ = UserRole.objects.get_or_create(user=user, role=role, factory=factory, defaults={"granted_by": granted_by})
    return row


def role_revoke(*, user: AbstractBaseUser, role: str, factory: str = "") -> bool:
    deleted, _ = UserRole.objects.filter(user=user, role=role, factory=factory.strip()).delete()
    return deleted > 0


# --- teams: members with roles, invitations, removals; every change in the team's audit log -------------------------


def _audit(*, organisation: Organisation, actor: AbstractBaseUser | None, action: str, subject: str,
           role: str = "", detail: str = "") -> TeamEvent:
    return TeamEvent.objects.create(organisation=organisation, actor=actor, action=action, subject=subject,
                                    role=role, detail=detail)


def _team_role(role: str) -> str:
    if role not in TeamRole.values:
        raise BadRequest(f"role: unknown team role {role!r}; known: {', '.join(TeamRole.values)}", {"field": "role"})
    return role


def _require_manager(organisation: Organisation, actor: AbstractBaseUser) -> None:
    if not may_manage_team(actor, organisation):
        raise Forbidden("only the organisation's principal investigator (or staff) manages its team")


@transaction.atomic
def invitation_create(
    *, organisation: Organisation, invited_by: AbstractBaseUser, email: str, role: str = TeamRole.MEMBER
) -> tuple[Invitation, str]:
    """Invite a colleague by e-mail. Returns the invitation and its token (shown once: it is only in the link)."""
    _require_manager(organisation, invited_by)
    email = email.strip()
    try:
        validate_email(email)
    except ValidationError as exc:
        raise BadRequest(f"email: {email!r} is not an e-mail address", {"field": "email"}) from exc
    _team_role(role)
    if organisation.memberships.filter(user__email__iexact=email).exists():
        raise Conflict(f"email: {email} is already in the team", {"field": "email"})
    now = timezone.now()
    if organisation.invitations.filter(email__iexact=email, state=InvitationState.PENDING, expires_at__gt=now).exists():
        raise Conflict(f"email: {email} has an open invitation already; revoke it to send another",
                       {"field": "email"})
    token = tokens.new_token("i")
    invitation = Invitation.objects.create(
        organisation=organisation, email=email, role=role, token_digest=tokens.digest(token), invited_by=invited_by,
        expires_at=now + settings.INVITATION_TTL,
    )
    _audit(organisation=organisation, actor=invited_by, action=TeamAction.INVITED, subject=email, role=role)
    return invitation, token


@transaction.atomic
def invitation_send(
    *, organisation: Organisation, invited_by: AbstractBaseUser, email: str, base_url: str,
    role: str = TeamRole.MEMBER,
) -> tuple[Invitation, str]:
    """Invite a colleague and e-mail them the link (queued: the request does not wait for the mail server).
    Returns the invitation and the link."""
    invitation, token = invitation_create(organisation=organisation, invited_by=invited_by, email=email, role=role)
    link = base_url.rstrip("/") + f"/invitations/{token}/"
    inviter = invited_by.get_full_name() or invited_by.get_username()
    hours = round(settings.INVITATION_TTL.total_seconds() / 3600)
    mail_send(
        to=[invitation.email], kind=MailKind.INVITATION,
        subject=f"{inviter} invites you to {organisation.name} on aifactory",
        body=(f"{inviter} invites you to join the team of {organisation.name} as "
              f"{TeamRole(invitation.role).label.lower()}.\n\nSign in (or create your account) and open this link "
              f"within {hours} hours to accept; it works once:\n\n{link}\n\nIf you did not expect this, ignore it.\n"),
    )
    return invitation, link


def _move(invitation: Invitation, move: InvitationMove) -> str:
    target = INVITATION_MOVES.get((invitation.state, move))
    if target is None:
        raise InvalidTransition("invitation", invitation.state, move.value)
    return target


@transaction.atomic
def invitation_accept(*, token: str, user: AbstractBaseUser) -> Membership:
    """The signed-in invited person joins the team. The link works once, before it expires, for the address it was
    sent to."""
    invitation = (Invitation.objects.select_for_update().select_related("organisation")
                  .filter(token_digest=tokens.digest(token)).first())
    if invitation is None:
        raise NotFound("token: no such invitation", {"field": "token"})
    if invitation.state == InvitationState.ACCEPTED:
        raise Gone("token: this invitation has been used already", {"field": "token"})
    if invitation.state == InvitationState.REVOKED:
        raise Gone("token: this invitation was revoked", {"field": "token"})
    if invitation.expires_at <= timezone.now():
        raise Gone("token: this invitation has expired; ask for a new one", {"field": "token"})
    user_email = (getattr(user, "email", "") or "").strip()
    if user_email.lower() != invitation.email.lower():
        raise Forbidden(f"this invitation was sent to {invitation.email}; you are signed in as "
                        f"{user_email or 'a person without an e-mail address'}")
    organisation = invitation.organisation
    if organisation.memberships.filter(user=user).exists():
        raise Conflict("you are already in this team")
    invitation.state = _move(invitation, InvitationMove.ACCEPT)
    invitation.accepted_by = user
    invitation.closed_at = timezone.now()
    invitation.save(update_fields=["state", "accepted_by", "closed_at"])
    membership = Membership.objects.create(organisation=organisation, user=user, role=invitation.role,
                                           added_by=invitation.invited_by)
    _audit(organisation=organisation, actor=user, action=TeamAction.ACCEPTED, subject=user.get_username(),
           role=invitation.role, detail=f"invited as {invitation.email}")
    return membership


@transaction.atomic
def invitation_revoke(*, invitation: Invitation, actor: AbstractBaseUser) -> Invitation:
    _require_manager(invitation.organisation, actor)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    invitation.state = _move(invitation, InvitationMove.REVOKE)
    invitation.closed_at = timezone.now()
    invitation.save(update_fields=["state", "closed_at"])
    _audit(organisation=invitation.organisation, actor=actor, action=TeamAction.REVOKED, subject=invitation.email,
           role=invitation.role)
    return invitation


def _lock_membership(organisation: Organisation, user: AbstractBaseUser) -> Membership:
    # Lock the whole team: the last-PI rule reads the other rows.
    rows = {m.user_id: m for m in Membership.objects.select_for_update().filter(organisation=organisation)}
    membership = rows.get(user.pk)
    if membership is None:
        raise NotFound(f"username: {user.get_username()!r} is not in this team", {"field": "username"})
    return membership


def _other_pis(organisation: Organisation, user: AbstractBaseUser) -> bool:
    return organisation.memberships.filter(role=TeamRole.PI).exclude(user=user).exists()


@transaction.atomic
def membership_set_role(
    *, organisation: Organisation, user: AbstractBaseUser, role: str, actor: AbstractBaseUser
) -> Membership:
    _require_manager(organisation, actor)
    _team_role(role)
    membership = _lock_membership(organisation, user)
    if membership.role == role:
        return membership
    if membership.role == TeamRole.PI and not _other_pis(organisation, user):
        raise Conflict("role: the team's last principal investigator keeps the role; name another PI first",
                       {"field": "role"})
    before = membership.role
    membership.role = role
    membership.save(update_fields=["role"])
    _audit(organisation=organisation, actor=actor, action=TeamAction.ROLE_CHANGED, subject=user.get_username(),
           role=role, detail=f"was {before}")
    return membership


@transaction.atomic
def membership_remove(*, organisation: Organisation, user: AbstractBaseUser, actor: AbstractBaseUser) -> None:
    """A PI removes a member (a person may also leave). The team keeps at least one PI."""
    if actor.pk != user.pk:
        _require_manager(organisation, actor)
    membership = _lock_membership(organisation, user)
    if membership.role == TeamRole.PI and not _other_pis(organisation, user):
        raise Conflict("username: the team's last principal investigator cannot be removed; name another PI first",
                       {"field": "username"})
    role = membership.role
    membership.delete()
    _audit(organisation=organisation, actor=actor, action=TeamAction.REMOVED, subject=user.get_username(), role=role)


# --- federated login: the claims of an OpenID Connect provider mapped to a person -------------------------------------

MAX_CLAIM_VALUES = 200
_USERNAME_CHARS = re.compile(r"[^A-Za-z0-9@.+_-]")


def _claim_str(claims: Mapping[str, Any], name: str, max_length: int) -> str:
    value = claims.get(name)
    if value is None:
        return ""
    if not isinstance(value, str):
        raise BadRequest(f"login: the provider's {name} claim is not a string", {"field": name})
    return value.strip()[:max_length]


def _claim_list(claims: Mapping[str, Any], name: str) -> list[str]:
    """A multi-valued claim (eduperson_assurance, eduperson_entitlement): a list of strings, or one string."""
    value = claims.get(name)
    if value is None:
        return []
    values = [value] if isinstance(value, str) else value
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise BadRequest(f"login: the provider's {name} claim is not a list of strings", {"field": name})
    return sorted({v.strip()[:500] for v in values if v.strip()})[:MAX_CLAIM_VALUES]


def _free_username(wanted: str) -> str:
    base = _USERNAME_CHARS.sub("", wanted)[:140] or "user"
    name, n = base, 1
    while User.objects.filter(username__iexact=name).exists():
        n += 1
        name = f"{base}-{n}"
    return name


@transaction.atomic
def person_login_federated(*, issuer: str, claims: Mapping[str, Any]) -> AbstractBaseUser:
    """The person behind verified OpenID Connect claims. The stable subject (`sub`, per issuer) finds them again;
    the first login creates them. Name, e-mail, assurance (eduperson_assurance) and entitlements
    (eduperson_entitlement) are refreshed at each login. An e-mail address is required (invitations and notices go
    to it); one the provider marks as unverified is refused."""
    subject = _claim_str(claims, "sub", 255)
    if not subject:
        raise BadRequest("login: the provider sent no subject (sub)", {"field": "sub"})
    email = _claim_str(claims, "email", 254)
    if not email:
        raise BadRequest("login: the identity provider sent no e-mail address; allow it to release your e-mail "
                         "address to this service and sign in again", {"field": "email"})
    try:
        validate_email(email)
    except ValidationError as exc:
        raise BadRequest(f"login: {email!r} from the provider is not an e-mail address", {"field": "email"}) from exc
    if claims.get("email_verified") is False:
        raise BadRequest("login: the provider says your e-mail address is not verified", {"field": "email"})
    given = _claim_str(claims, "given_name", 150)
    family = _claim_str(claims, "family_name", 150)
    name = _claim_str(claims, "name", 300) or " ".join(p for p in (given, family) if p)
    if name and not (given or family):
        given, _, family = name.partition(" ")
    assurance = _claim_list(claims, "eduperson_assurance")
    entitlements = _claim_list(claims, "eduperson_entitlement")

    identity = (FederatedIdentity.objects.select_for_update().select_related("user")
                .filter(issuer=issuer, subject=subject).first())
    if identity is None:
        wanted = _claim_str(claims, "preferred_username", 150) or email.split("@", 1)[0]
        user = User.objects.create_user(username=_free_username(wanted), email=email)
        user.set_unusable_password()
        identity = FederatedIdentity(user=user, issuer=issuer, subject=subject)
    user = identity.user
    if not user.is_active:
        raise Forbidden("login: this account is closed")
    user.email = email
    user.first_name, user.last_name = given[:150], family[:150]
    user.save()
    identity.email, identity.name = email, name
    identity.assurance, identity.entitlements = assurance, entitlements
    identity.last_login_at = timezone.now()
    identity.save()
    return user
