"""Site accounts, SSH keys and certificates for people; the CA's public line and the KRL for sites; the agent's
orders to open and close accounts (pull only)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Field, Router, Schema

from aifactory.portal.common.responses import answer
from aifactory.portal.common.schemas import In
from aifactory.portal.federation.auth import site_auth
from aifactory.portal.organisations.auth import user_auth
from aifactory.portal.siteaccess.models import SiteAccount, SshCertificate, SshKey
from aifactory.portal.siteaccess.selectors import (
    ca_public_line,
    certificates_of,
    krl,
    person_keeps_access,
    site_accounts_of,
    site_accounts_todo,
    ssh_keys_of,
)
from aifactory.portal.siteaccess.services import (
    site_account_done,
    site_accounts_sync,
    ssh_certificate_issue,
    ssh_certificate_revoke,
    ssh_key_add,
    ssh_key_revoke,
)

router = Router(tags=["site accounts and SSH"], auth=user_auth)
public_router = Router(tags=["site accounts and SSH"])
agent_router = Router(tags=["agent"], auth=site_auth)


class SiteAccountOut(Schema):
    """A person's account at a site for one allocation (a SiteAccount)."""

    id: int
    site: str = Field(..., alias="site.name")
    machine: str = Field(..., alias="allocation.machine.key")
    account: str = Field(..., alias="allocation.account", description="the allocation's Slurm account")
    allocation: int = Field(..., alias="allocation_id")
    username: str
    state: str
    message: str
    updated_at: datetime


class SshKeyIn(In):
    public_key: str = Field(..., max_length=16384, description="one OpenSSH public key line")
    name: str = Field("", max_length=60)


class SshKeyOut(Schema):
    """A person's SSH public key (an SshKey)."""

    id: int
    name: str
    algorithm: str
    fingerprint: str
    public_key: str
    created_at: datetime
    revoked_at: datetime | None


class CertificateIn(In):
    key: int = Field(..., ge=1, le=2**62)
    account: int = Field(..., ge=1, le=2**62, description="the site account whose user name is the principal")
    hours: float | None = Field(None, gt=0, le=24 * 366, description="lifetime; default and maximum are settings")


class CertificateOut(Schema):
    """A short-lived SSH certificate for one key and one site account (an SshCertificate)."""

    id: int
    key: int = Field(..., alias="key_id")
    account: int = Field(..., alias="account_id")
    site: str = Field(..., alias="account.site.name")
    serial: int
    principal: str
    valid_after: datetime
    valid_before: datetime
    revoked_at: datetime | None
    certificate: str = Field(..., alias="text", description="the OpenSSH certificate line")


@router.get("/me/site-accounts", response=list[SiteAccountOut], summary="Your accounts at the sites, with state")
def my_site_accounts(request: HttpRequest) -> list[SiteAccount]:
    return list(site_accounts_of(request.user))


@router.get("/me/ssh-keys", response=list[SshKeyOut])
def my_keys(request: HttpRequest) -> list[SshKey]:
    return list(ssh_keys_of(request.user))


@router.post("/me/ssh-keys", response={201: SshKeyOut}, summary="Add a public key (the same key again: the same row)")
def add_key(request: HttpRequest, body: SshKeyIn) -> Any:
    return answer(201, ssh_key_add(user=request.user, public_key=body.public_key, name=body.name))


@router.post("/me/ssh-keys/{key_id}/revoke", response=SshKeyOut,
             summary="Revoke a key: the sites' revocation list refuses it and every certificate made for it")
def revoke_key(request: HttpRequest, key_id: int) -> SshKey:
    return ssh_key_revoke(user=request.user, key_id=key_id)


@router.get("/me/ssh-certificates", response=list[CertificateOut])
def my_certificates(request: HttpRequest) -> list[SshCertificate]:
    return list(certificates_of(request.user)[:200])


@router.post("/me/ssh-certificates", response={201: CertificateOut},
             summary="A short-lived certificate for one of your keys and one of your active site accounts")
def issue_certificate(request: HttpRequest, body: CertificateIn) -> Any:
    cert = ssh_certificate_issue(user=request.user, key_id=body.key, account_id=body.account, hours=body.hours)
    return answer(201, cert)


@router.post("/me/ssh-certificates/{certificate_id}/revoke", response=CertificateOut)
def revoke_certificate(request: HttpRequest, certificate_id: int) -> SshCertificate:
    return ssh_certificate_revoke(user=request.user, certificate_id=certificate_id)


@public_router.get("/ssh/ca.pub", summary="The federation's user CA, for sshd's TrustedUserCAKeys",
                   openapi_extra={"responses": {200: {"description": "one OpenSSH public key line", "content": {
                       "text/plain": {"schema": {"type": "string"}}}}}})
def ca_pub(request: HttpRequest) -> HttpResponse:
    return HttpResponse(ca_public_line() + "\n", content_type="text/plain; charset=utf-8")


@public_router.get("/ssh/revoked.krl", summary="The key revocation list (OpenSSH KRL), for sshd's RevokedKeys",
                   openapi_extra={"responses": {200: {"description": "the KRL, binary", "content": {
                       "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}}}})
def revoked_krl(request: HttpRequest) -> HttpResponse:
    response = HttpResponse(krl(), content_type="application/octet-stream")
    response["Cache-Control"] = "no-store"
    return response


class AccountOrderOut(Schema):
    """A site account the agent opens or closes (a SiteAccount waiting for its site)."""

    id: int
    action: str = Field(description="open or close")
    username: str
    account: str = Field(..., alias="allocation.account")
    lock: bool = Field(description="closing: the person keeps no open account at the site, lock the POSIX user")

    @staticmethod
    def resolve_action(a: SiteAccount) -> str:
        return "open" if a.state == "requested" else "close"

    @staticmethod
    def resolve_lock(a: SiteAccount) -> bool:
        return a.state == "closing" and not person_keeps_access(a)


class AccountDoneIn(In):
    ok: bool
    message: str = Field("", max_length=2000)


@agent_router.get("/site-accounts", response=list[AccountOrderOut],
                  summary="Accounts to open (POSIX user and association) or close (to new jobs) at this site")
def agent_site_accounts(request: HttpRequest) -> list[SiteAccount]:
    site_accounts_sync(site=request.auth)
    return list(site_accounts_todo(request.auth))


@agent_router.post("/site-accounts/{account_id}", response={204: None})
def agent_site_account_done(request: HttpRequest, account_id: int, body: AccountDoneIn) -> Any:
    site_account_done(site=request.auth, account_id=account_id, ok=body.ok, message=body.message)
    return answer(204, None)
