"""Writes of site accounts, SSH keys and certificates.

Site accounts follow the people: `site_accounts_sync` compares, for one site that runs jobs under personal accounts,
who should have an account (`wanted_accounts`: the PIs and members of organisations holding an allocation on the
site's machine, who have accepted the site's current terms of use) with the accounts recorded, opens what is missing and
closes what is no longer wanted. The site's agent runs it when it asks for its work, so a member added or removed
reaches the site on its next pass, and reports back with `site_account_done`.

    requested --agent done--> active --member removed--> closing --agent done--> closed
        |                                                   |                       |
        +--member removed before creation--> closing        +--member back-->  requested <--member back--+

Each move is one guarded service call that records a SiteAccountChange (who, when, from, to, why). Closing an
account revokes the certificates signed for it.
"""

from __future__ import annotations

import os
import re
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils import timezone

from aifactory.core import sshcert
from aifactory.core.exceptions import InvalidInput
from aifactory.portal.allocations.models import Allocation
from aifactory.portal.common.errors import BadRequest, Conflict, NotFound
from aifactory.portal.federation.models import Site
from aifactory.portal.federation.selectors import has_accepted_current_terms
from aifactory.portal.mail.choices import MailKind
from aifactory.portal.mail.models import OutgoingMail
from aifactory.portal.mail.services import mail_send
from aifactory.portal.organisations.choices import TeamRole
from aifactory.portal.organisations.models import Membership
from aifactory.portal.siteaccess.choices import (
    OPEN_STATES,
    SiteAccountState,
    check_site_account_transition,
)
from aifactory.portal.siteaccess.models import SiteAccount, SiteAccountChange, SshCertificate, SshKey

_NOT_LETTERS = re.compile(r"[^a-z0-9]")


def site_username(user: AbstractBaseUser) -> str:
    """The person's POSIX user name at every site: the letters and digits of their portal name (at most 12, from a
    letter on) and their number, e.g. `alice7`; unique, stable, and valid for useradd and Slurm."""
    name = _NOT_LETTERS.sub("", str(user.get_username()).lower()).lstrip("0123456789")[:12] or "u"
    return f"{name}{user.pk:02d}"


def _move(account: SiteAccount, target: SiteAccountState, *, actor: AbstractBaseUser | None, reason: str) -> None:
    check_site_account_transition(account.state, target)
    SiteAccountChange.objects.create(account=account, actor=actor, from_state=account.state, to_state=target.value,
                                     reason=reason[:2000])
    account.state = target.value
    account.save(update_fields=["state", "updated_at"])
    if target is SiteAccountState.CLOSING:
        SshCertificate.objects.filter(account=account, revoked_at__isnull=True).update(revoked_at=timezone.now())


def wanted_accounts(site: Site) -> set[tuple[int, int]]:
    """(user pk, allocation pk) of everyone who should have an account at the site now: the principal investigators
    and members (not the billing or administrative contacts) of each organisation holding an allocation on the site's
    machine that has not ended, who have accepted the site's current terms of use (a new version asks again: until
    then the account is closed to new jobs)."""
    today = timezone.localdate()
    allocations = list(Allocation.objects.filter(machine_id=site.machine_id, ends_on__gte=today))
    memberships = Membership.objects.filter(
        organisation_id__in={a.organisation_id for a in allocations}, role__in=[TeamRole.PI, TeamRole.MEMBER]
    ).select_related("user")
    people: dict[int, list[AbstractBaseUser]] = {}
    for membership in memberships:
        people.setdefault(membership.organisation_id, []).append(membership.user)
    accepted: dict[int, bool] = {}
    wanted: set[tuple[int, int]] = set()
    for allocation in allocations:
        for user in people.get(allocation.organisation_id, []):
            if user.pk not in accepted:
                accepted[user.pk] = has_accepted_current_terms(user, site)
            if accepted[user.pk]:
                wanted.add((user.pk, allocation.pk))
    return wanted


@transaction.atomic
def site_accounts_sync(*, site: Site) -> None:
    """Open the accounts the site's members need and close those no longer wanted (module docstring)."""
    if not site.personal_accounts:
        return
    wanted = wanted_accounts(site)
    existing = {(a.user_id, a.allocation_id): a for a in SiteAccount.objects.select_for_update().filter(site=site)}
    for key, account in existing.items():
        if key not in wanted and account.state in OPEN_STATES:
            _move(account, SiteAccountState.CLOSING, actor=None, reason="no longer a member of the project")
        elif key in wanted and account.state in (SiteAccountState.CLOSING, SiteAccountState.CLOSED):
            _move(account, SiteAccountState.REQUESTED, actor=None, reason="a member of the project again")
    users = {u.pk: u for u in _users({uid for uid, _ in wanted - existing.keys()})}
    for user_id, allocation_id in sorted(wanted - existing.keys()):
        account = SiteAccount.objects.create(user_id=user_id, site=site, allocation_id=allocation_id,
                                             username=site_username(users[user_id]))
        SiteAccountChange.objects.create(account=account, actor=None, from_state="",
                                         to_state=SiteAccountState.REQUESTED.value, reason="a member of the project")


def _users(pks: set[int]) -> list[AbstractBaseUser]:
    return list(get_user_model().objects.filter(pk__in=pks))


@transaction.atomic
def site_account_done(*, site: Site, account_id: int, ok: bool, message: str) -> SiteAccount:
    """The agent's report on one account it was asked to open or close; a failure keeps the order open."""
    account = SiteAccount.objects.select_for_update().filter(pk=account_id, site=site).first()
    if account is None:
        raise NotFound(f"site account {account_id} not found at this site")
    account.message = message[:2000]
    account.save(update_fields=["message", "updated_at"])
    if not ok:
        return account
    if account.state == SiteAccountState.REQUESTED:
        _move(account, SiteAccountState.ACTIVE, actor=None, reason=message or "created at the site")
    elif account.state == SiteAccountState.CLOSING:
        _move(account, SiteAccountState.CLOSED, actor=None, reason=message or "closed at the site")
    else:
        raise Conflict(f"site account {account_id} is {account.state}: nothing was asked of the site",
                       {"field": "ok", "state": account.state})
    return account


# --- SSH keys and certificates -----------------------------------------------------------------------------------


def _invalid(exc: InvalidInput) -> BadRequest:
    return BadRequest(exc.message, {"field": exc.field})


@transaction.atomic
def ssh_key_add(*, user: AbstractBaseUser, public_key: str, name: str = "") -> SshKey:
    """Record a person's public key (pasted or uploaded). A key revoked before cannot come back."""
    try:
        parsed = sshcert.parse_public_key(public_key, field="public_key")
    except InvalidInput as exc:
        raise _invalid(exc) from None
    if len(name) > 60:
        raise BadRequest("name: at most 60 characters", {"field": "name"})
    found = SshKey.objects.filter(user=user, fingerprint=parsed.fingerprint).first()
    if found is not None:
        if found.revoked_at is not None:
            raise Conflict("public_key: this key was revoked; make a new key pair", {"field": "public_key"})
        return found
    try:
        with transaction.atomic():
            return SshKey.objects.create(user=user, name=name or parsed.comment[:60], algorithm=parsed.algorithm,
                                         public_key=parsed.openssh, fingerprint=parsed.fingerprint)
    except IntegrityError:
        return SshKey.objects.get(user=user, fingerprint=parsed.fingerprint)


@transaction.atomic
def ssh_key_revoke(*, user: AbstractBaseUser, key_id: int) -> SshKey:
    """Revoke one of the person's keys: the KRL lists it from now on, so no certificate for it logs in."""
    key = SshKey.objects.select_for_update().filter(pk=key_id, user=user).first()
    if key is None:
        raise NotFound(f"SSH key {key_id} not found")
    if key.revoked_at is None:
        now = timezone.now()
        key.revoked_at = now
        key.save(update_fields=["revoked_at"])
        key.certificates.filter(revoked_at__isnull=True).update(revoked_at=now)
    return key


def ca_key() -> sshcert.CaKey:
    """The federation's user CA, from SSH_CA_KEY_FILE; made (mode 600) when the file does not exist yet."""
    path = Path(settings.SSH_CA_KEY_FILE)
    try:
        return sshcert.load_ca_key(path.read_bytes())
    except FileNotFoundError:
        pass
    key, pem = sshcert.new_ca_key()
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:  # made meanwhile by another worker
        return sshcert.load_ca_key(path.read_bytes())
    with os.fdopen(fd, "wb") as handle:
        handle.write(pem)
    return key


@transaction.atomic
def ssh_certificate_issue(
    *, user: AbstractBaseUser, key_id: int, account_id: int, hours: float | None = None
) -> SshCertificate:
    """Sign a certificate for one of the person's keys and the principal of one of their active site accounts,
    valid from now for `hours` (SSH_CERT_DEFAULT_HOURS when not given, at most SSH_CERT_MAX_HOURS)."""
    key = SshKey.objects.filter(pk=key_id, user=user).first()
    if key is None:
        raise NotFound(f"key: SSH key {key_id} not found", {"field": "key"})
    if key.revoked_at is not None:
        raise Conflict("key: this key is revoked", {"field": "key"})
    account = SiteAccount.objects.select_related("site").filter(pk=account_id, user=user).first()
    if account is None:
        raise NotFound(f"account: site account {account_id} not found", {"field": "account"})
    if account.state != SiteAccountState.ACTIVE:
        raise Conflict(f"account: your account {account.username} at {account.site.name} is {account.state}; a "
                       "certificate is signed only for an active account", {"field": "account"})
    try:
        lifetime = sshcert.check_validity(settings.SSH_CERT_DEFAULT_HOURS if hours is None else hours,
                                          maximum_hours=settings.SSH_CERT_MAX_HOURS)
    except InvalidInput as exc:
        raise _invalid(exc) from None
    now = timezone.now()
    serial = secrets.randbits(62) + 1
    while SshCertificate.objects.filter(serial=serial).exists():
        serial = secrets.randbits(62) + 1
    key_ident = f"{account.site.name}:{account.username}:{serial}"
    cert = sshcert.sign_certificate(
        ca_key=ca_key(), public_key=sshcert.parse_public_key(key.public_key).key, principal=account.username,
        serial=serial, key_id=key_ident, valid_after=now, valid_before=now + lifetime,
    )
    return SshCertificate.objects.create(key=key, account=account, serial=serial, principal=account.username,
                                         identity=key_ident, valid_after=now, valid_before=now + lifetime,
                                         text=cert.text)


@transaction.atomic
def ssh_certificate_revoke(*, user: AbstractBaseUser, certificate_id: int) -> SshCertificate:
    cert = SshCertificate.objects.select_for_update().filter(pk=certificate_id, key__user=user).first()
    if cert is None:
        raise NotFound(f"certificate {certificate_id} not found")
    if cert.revoked_at is None:
        cert.revoked_at = timezone.now()
        cert.save(update_fields=["revoked_at"])
    return cert



# --- certificate expiry -------------------------------------------------------------------------------------------


def ssh_certificates_expiry_notify(*, now: datetime | None = None) -> list[SshCertificate]:
    """E-mail each person whose certificate expires within SSH_CERT_EXPIRY_NOTICE_H, once per certificate (the
    outbox's key `cert-expiry-<serial>` holds it to one message, however often this runs). Left out: revoked or
    expired certificates; those whose whole lifetime is at most twice the window (a short certificate asked for
    minutes ago would be announced at once); and those already followed by a certificate for the same key and
    account that lasts longer. The periodic task `siteaccess.certificate_expiry` runs it. Returns those mailed."""
    now = now or timezone.now()
    window = timedelta(hours=settings.SSH_CERT_EXPIRY_NOTICE_H)
    due = (SshCertificate.objects.filter(revoked_at__isnull=True, key__revoked_at__isnull=True, valid_before__gt=now,
                                         valid_before__lte=now + window)
           .filter(valid_before__gt=F("valid_after") + 2 * window)
           .select_related("key__user", "account__site").order_by("valid_before", "pk"))
    mailed = []
    for cert in due:
        person = cert.key.user
        if not person.email or OutgoingMail.objects.filter(key=_expiry_key(cert)).exists():
            continue
        if SshCertificate.objects.filter(key=cert.key, account=cert.account, revoked_at__isnull=True,
                                         valid_before__gt=cert.valid_before).exists():
            continue  # they have a newer one already
        at = cert.valid_before.astimezone(UTC).strftime("%Y-%m-%d %H:%M UTC")
        mail_send(
            to=[person.email], kind=MailKind.CERTIFICATE_EXPIRY, key=_expiry_key(cert),
            subject=f"Your SSH certificate for {cert.principal} at {cert.account.site.name} expires at {at}",
            body=(f"Your SSH certificate for the account {cert.principal} at {cert.account.site.name} (serial "
                  f"{cert.serial}, key {cert.key.name or cert.key.fingerprint}) expires at {at}. After that, ssh "
                  f"refuses it.\n\nSign a new one for the same key at {settings.PUBLIC_URL}/ssh/ or with "
                  f"POST /api/v1/me/ssh-certificates.\n"),
        )
        mailed.append(cert)
    return mailed


def _expiry_key(cert: SshCertificate) -> str:
    return f"cert-expiry-{cert.serial}"
