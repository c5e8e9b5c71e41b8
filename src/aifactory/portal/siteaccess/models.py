"""Each person's accounts at the sites, their SSH public keys and the short-lived certificates signed for them."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from aifactory.portal.allocations.models import Allocation
from aifactory.portal.common.models import StateChangeBase
from aifactory.portal.federation.models import Site
from aifactory.portal.siteaccess.choices import SITE_ACCOUNT_STATE_CHOICES, SiteAccountState


class SiteAccount(models.Model):
    """A person's account at a site for one project (allocation): at a Slurm site, the POSIX user `username` and
    its association under the allocation's account. One POSIX user per person and site, whatever the project."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="site_accounts")
    site = models.ForeignKey(Site, on_delete=models.PROTECT, related_name="site_accounts")
    allocation = models.ForeignKey(Allocation, on_delete=models.PROTECT, related_name="site_accounts")
    username = models.CharField(max_length=32, help_text="the POSIX user name at the site")
    state = models.CharField(max_length=12, choices=SITE_ACCOUNT_STATE_CHOICES, default=SiteAccountState.REQUESTED)
    message = models.TextField(blank=True, help_text="what the site's agent said last")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["site__name", "allocation__account", "username"]
        constraints = [
            models.UniqueConstraint(fields=["user", "site", "allocation"], name="site_account_once_per_project"),
            models.CheckConstraint(condition=models.Q(username__regex=r"^[a-z][a-z0-9]{2,31}$"),
                                   name="site_account_username_posix"),
        ]

    def __str__(self) -> str:
        return f"{self.username}@{self.site.name} ({self.allocation.account}, {self.state})"


class SiteAccountChange(StateChangeBase):
    """Audit log of a site account's states."""

    account = models.ForeignKey(SiteAccount, on_delete=models.CASCADE, related_name="history")

    def __str__(self) -> str:
        return f"{self.account}: {self.from_state or 'new'} -> {self.to_state}"


class SshKey(models.Model):
    """A person's SSH public key (OpenSSH text, comment dropped). Revoking it lists it in the KRL: every
    certificate made for it is refused by the sites."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="ssh_keys")
    name = models.CharField(max_length=60, blank=True)
    algorithm = models.CharField(max_length=40)
    public_key = models.TextField()
    fingerprint = models.CharField(max_length=60)
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [models.UniqueConstraint(fields=["user", "fingerprint"], name="ssh_key_once_per_user")]

    def __str__(self) -> str:
        return f"{self.user}: {self.fingerprint}"


class SshCertificate(models.Model):
    """A certificate signed by the federation's user CA for one key and one site account's principal."""

    key = models.ForeignKey(SshKey, on_delete=models.CASCADE, related_name="certificates")
    account = models.ForeignKey(SiteAccount, on_delete=models.PROTECT, related_name="certificates")
    serial = models.BigIntegerField(unique=True)
    principal = models.CharField(max_length=32)
    identity = models.CharField(max_length=200, help_text="the key ID written in the certificate")
    valid_after = models.DateTimeField()
    valid_before = models.DateTimeField()
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "-pk"]
        constraints = [
            models.CheckConstraint(condition=models.Q(serial__gt=0), name="ssh_cert_serial_positive"),
            models.CheckConstraint(condition=models.Q(valid_before__gt=models.F("valid_after")),
                                   name="ssh_cert_validity_order"),
        ]

    def __str__(self) -> str:
        return f"#{self.serial} {self.principal} until {self.valid_before:%Y-%m-%d %H:%M}"
