from __future__ import annotations

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from aifactory.portal.common.errors import REFUSALS
from aifactory.portal.common.forms import add_refusal
from aifactory.portal.siteaccess.choices import SiteAccountState
from aifactory.portal.siteaccess.forms import CertificateForm, SshKeyForm
from aifactory.portal.siteaccess.models import SshCertificate
from aifactory.portal.siteaccess.selectors import ca_public_line, certificates_of, site_accounts_of, ssh_keys_of
from aifactory.portal.siteaccess.services import (
    ssh_certificate_issue,
    ssh_certificate_revoke,
    ssh_key_add,
    ssh_key_revoke,
)


def _certificate_form(request: HttpRequest, data: object = None) -> CertificateForm:
    keys = [(k.pk, f"{k.name or k.algorithm} {k.fingerprint}") for k in ssh_keys_of(request.user)
            if k.revoked_at is None]
    accounts = [(a.pk, f"{a.username} at {a.site.name} ({a.allocation.account})")
                for a in site_accounts_of(request.user) if a.state == SiteAccountState.ACTIVE]
    return CertificateForm(data, keys=keys, accounts=accounts, default_hours=settings.SSH_CERT_DEFAULT_HOURS,
                           max_hours=settings.SSH_CERT_MAX_HOURS)


def _page(request: HttpRequest, *, key_form: SshKeyForm | None = None, cert_form: CertificateForm | None = None,
          issued: SshCertificate | None = None) -> HttpResponse:
    return render(request, "siteaccess/ssh.html", {
        "accounts": site_accounts_of(request.user),
        "keys": ssh_keys_of(request.user),
        "certificates": certificates_of(request.user)[:50],
        "key_form": key_form or SshKeyForm(),
        "cert_form": cert_form or _certificate_form(request),
        "issued": issued,
        "ca_line": ca_public_line(),
    })


@login_required
def ssh_page(request: HttpRequest) -> HttpResponse:
    """Your site accounts with their state, your SSH keys and your certificates."""
    return _page(request)


@login_required
@require_POST
def ssh_key_new(request: HttpRequest) -> HttpResponse:
    form = SshKeyForm(request.POST, request.FILES)
    if form.is_valid():
        try:
            key = ssh_key_add(user=request.user, public_key=form.cleaned_data["public_key"],
                              name=form.cleaned_data["name"])
        except REFUSALS as exc:
            add_refusal(form, exc)
        else:
            messages.success(request, f"Key {key.fingerprint} added.")
            return redirect("ssh")
    return _page(request, key_form=form)


@login_required
@require_POST
def ssh_certificate_new(request: HttpRequest) -> HttpResponse:
    form = _certificate_form(request, request.POST)
    if form.is_valid():
        try:
            cert = ssh_certificate_issue(user=request.user, key_id=form.cleaned_data["key"],
                                         account_id=form.cleaned_data["account"], hours=form.cleaned_data["hours"])
        except REFUSALS as exc:
            add_refusal(form, exc)
        else:
            return _page(request, issued=cert)
    return _page(request, cert_form=form)


@login_required
@require_POST
def ssh_key_revoke_view(request: HttpRequest, key_id: int) -> HttpResponse:
    key = ssh_key_revoke(user=request.user, key_id=key_id)  # another person's key: 404
    messages.success(request, f"Key {key.fingerprint} revoked: the sites refuse it and its certificates.")
    return redirect("ssh")


@login_required
@require_POST
def ssh_certificate_revoke_view(request: HttpRequest, certificate_id: int) -> HttpResponse:
    cert = ssh_certificate_revoke(user=request.user, certificate_id=certificate_id)  # another person's: 404
    messages.success(request, f"Certificate #{cert.serial} revoked.")
    return redirect("ssh")
