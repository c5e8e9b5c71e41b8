"""Reads of site accounts, SSH keys, certificates, the CA's public line and the key revocation list."""

from __future__ import annotations

from datetime import UTC, datetime

from django.contrib.auth.models import AbstractBaseUser
from django.db.models import Count, QuerySet

from aifactory.core import sshcert
from aifactory.portal.federation.models import Site
from aifactory.portal.siteaccess.choices import TODO_STATES, SiteAccountState
from aifactory.portal.siteaccess.models import SiteAccount, SshCertificate, SshKey
from aifactory.portal.siteaccess.services import ca_key


def site_accounts_of(user: AbstractBaseUser) -> QuerySet[SiteAccount]:
    return SiteAccount.objects.filter(user=user).select_related("site", "allocation", "allocation__machine")


def site_accounts_todo(site: Site) -> QuerySet[SiteAccount]:
    """Accounts the site's agent must open or close, with whether closing leaves the person no open account there
    (then the POSIX user is locked as well)."""
    return SiteAccount.objects.filter(site=site, state__in=[s.value for s in TODO_STATES]).select_related(
        "allocation").order_by("pk")


def person_keeps_access(account: SiteAccount) -> bool:
    """Whether the person has another open account (another project) at the same site."""
    return SiteAccount.objects.filter(site_id=account.site_id, user_id=account.user_id).exclude(pk=account.pk).filter(
        state__in=[SiteAccountState.REQUESTED.value, SiteAccountState.ACTIVE.value]).exists()


def active_account_pairs(user_id: int, allocation_ids: list[int]) -> set[tuple[int, int]]:
    """(allocation pk, site pk) where the person's account is active."""
    rows = SiteAccount.objects.filter(user_id=user_id, allocation_id__in=allocation_ids,
                                      state=SiteAccountState.ACTIVE.value).values_list("allocation_id", "site_id")
    return set(rows)


def site_username_of(user_id: int, site: Site, allocation_id: int) -> str:
    """The POSIX user a person's job runs as at a site that runs jobs under personal accounts; '' otherwise."""
    if not site.personal_accounts:
        return ""
    account = SiteAccount.objects.filter(user_id=user_id, site=site, allocation_id=allocation_id).first()
    return account.username if account is not None else ""


def ssh_keys_of(user: AbstractBaseUser) -> QuerySet[SshKey]:
    return SshKey.objects.filter(user=user).annotate(certificate_count=Count("certificates"))


def certificates_of(user: AbstractBaseUser) -> QuerySet[SshCertificate]:
    return SshCertificate.objects.filter(key__user=user).select_related("key", "account", "account__site")


def ca_public_line() -> str:
    """The line sites put in sshd's TrustedUserCAKeys file."""
    return sshcert.ca_public_line(ca_key())


def krl() -> bytes:
    """The key revocation list for sshd's RevokedKeys: every revoked certificate's serial and revoked key's hash.
    Its version is the number of revocations, which only grows."""
    certs = list(SshCertificate.objects.filter(revoked_at__isnull=False).values_list("serial", "revoked_at"))
    keys = list(SshKey.objects.filter(revoked_at__isnull=False).values_list("public_key", "revoked_at"))
    latest = max([at for _, at in certs + keys], default=datetime(1970, 1, 1, tzinfo=UTC))
    # Dated by the latest revocation, so the same revocations give the same bytes (sites rewrite only on change).
    return sshcert.build_krl(ca_key=ca_key(), revoked_serials=[s for s, _ in certs],
                             revoked_key_hashes=[sshcert.key_hash(k) for k, _ in keys],
                             version=len(certs) + len(keys), generated_at=latest)

