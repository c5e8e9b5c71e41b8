from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.forms import AuthenticationForm
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_POST

from aifactory.portal.common.errors import REFUSALS, Forbidden, NotFound, refusal_of
from aifactory.portal.common.forms import add_refusal
from aifactory.portal.organisations.choices import TeamRole
from aifactory.portal.organisations.forms import InvitationForm, MemberRoleForm, OrganisationForm, SignupForm
from aifactory.portal.organisations.models import Organisation
from aifactory.portal.organisations.oidc import login_complete, login_redirect, oidc_enabled
from aifactory.portal.organisations.selectors import (
    invitation_by_token,
    invitation_open,
    may_manage_team,
    organisation_eligibility,
    organisation_get,
    team_events,
    team_invitations,
    team_members,
    team_role,
)
from aifactory.portal.organisations.services import (
    invitation_accept,
    invitation_revoke,
    invitation_send,
    membership_remove,
    membership_set_role,
    organisation_register,
    person_login_federated,
    user_signup,
)


def signup(request: HttpRequest) -> HttpResponse:
    form = SignupForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            user = user_signup(**form.cleaned_data)
        except REFUSALS as exc:
            add_refusal(form, exc)
        else:
            login(request, user, backend="django.contrib.auth.backends.ModelBackend")
            return redirect("dashboard")
    return render(request, "signup.html", {"form": form})


@login_required
def organisation_new(request: HttpRequest) -> HttpResponse:
    form = OrganisationForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            org = organisation_register(user=request.user, **form.cleaned_data)
        except REFUSALS as exc:
            add_refusal(form, exc)
        else:
            eligibility = organisation_eligibility(org)
            if eligibility["eligible"]:
                messages.success(request, f"{org.name} registered ({org.get_sme_category_display()}).")
                return redirect("dashboard")
            messages.warning(request, f"{org.name} is registered but cannot apply for access: {eligibility['reason']}")
            return redirect("organisation-detail", org_id=org.pk)
    return render(request, "organisation_form.html", {"form": form})


# --- teams ------------------------------------------------------------------------------------------------------------


def _team_page(request: HttpRequest, org: Organisation, invite_form: InvitationForm | None = None,
               status: int = 200) -> HttpResponse:
    manager = may_manage_team(request.user, org)
    return render(request, "team.html", {
        "org": org, "members": team_members(org), "manager": manager, "my_role": team_role(request.user, org),
        "invite_form": invite_form or InvitationForm(), "role_choices": TeamRole.choices,
        "invitations": [(i, invitation_open(i)) for i in team_invitations(org)[:100]] if manager else [],
        "events": team_events(org).order_by("-at", "-pk")[:100],
    }, status=status)


@login_required
def team(request: HttpRequest, org_id: int) -> HttpResponse:
    return _team_page(request, organisation_get(user=request.user, pk=org_id))


@login_required
@require_POST
def team_invite(request: HttpRequest, org_id: int) -> HttpResponse:
    org = organisation_get(user=request.user, pk=org_id)
    if not may_manage_team(request.user, org):
        raise Forbidden("only the organisation's principal investigator (or staff) manages its team")
    form = InvitationForm(request.POST)
    if form.is_valid():
        try:
            invitation, _ = invitation_send(organisation=org, invited_by=request.user,
                                            base_url=request.build_absolute_uri("/"), **form.cleaned_data)
        except REFUSALS as exc:
            add_refusal(form, exc)
        else:
            messages.success(request, f"Invitation e-mailed to {invitation.email}; the link is valid until "
                                      f"{invitation.expires_at:%Y-%m-%d %H:%M} UTC.")
            return redirect("team", org_id=org.pk)
    return _team_page(request, org, form, status=400)


def _back_with(request: HttpRequest, org: Organisation, action: Callable[[], object], done: str) -> HttpResponse:
    try:
        action()
    except REFUSALS as exc:
        messages.error(request, refusal_of(exc).message)
    else:
        messages.success(request, done)
    return redirect("team", org_id=org.pk)


@login_required
@require_POST
def team_remove(request: HttpRequest, org_id: int, username: str) -> HttpResponse:
    org = organisation_get(user=request.user, pk=org_id)
    person = org.members.filter(username=username).first()
    if person is None:
        raise NotFound(f"{username!r} is not in this team")
    if person.pk == request.user.pk:
        membership_remove(organisation=org, user=person, actor=request.user)
        messages.success(request, f"You left {org.name}.")
        return redirect("dashboard")
    return _back_with(request, org, lambda: membership_remove(organisation=org, user=person, actor=request.user),
                      f"{username} removed from the team.")


@login_required
@require_POST
def team_role_change(request: HttpRequest, org_id: int, username: str) -> HttpResponse:
    org = organisation_get(user=request.user, pk=org_id)
    person = org.members.filter(username=username).first()
    if person is None:
        raise NotFound(f"{username!r} is not in this team")
    form = MemberRoleForm(request.POST)
    if not form.is_valid():
        messages.error(request, "Choose one of the team roles.")
        return redirect("team", org_id=org.pk)
    role = form.cleaned_data["role"]
    return _back_with(request, org, lambda: membership_set_role(organisation=org, user=person, role=role,
                                                                actor=request.user),
                      f"{username} is now {TeamRole(role).label.lower()}.")


@login_required
@require_POST
def team_revoke(request: HttpRequest, org_id: int, invitation_id: int) -> HttpResponse:
    org = organisation_get(user=request.user, pk=org_id)
    invitation = org.invitations.filter(pk=invitation_id).first()
    if invitation is None:
        raise NotFound(f"invitation {invitation_id} not found")
    return _back_with(request, org, lambda: invitation_revoke(invitation=invitation, actor=request.user),
                      f"Invitation to {invitation.email} revoked.")


@login_required
def invitation_page(request: HttpRequest, token: str) -> HttpResponse:
    """The link of an invitation e-mail: after signing in, the invited person sees it and accepts it."""
    invitation = invitation_by_token(token)
    if invitation is None:
        return render(request, "invitation.html", {"invitation": None, "refusal": "This invitation link is not "
                      "valid. Ask the team's principal investigator for a new one."}, status=404)
    refusal = ""
    if request.method == "POST":
        try:
            invitation_accept(token=token, user=request.user)
        except REFUSALS as exc:
            refusal = refusal_of(exc).message.removeprefix("token: ")
        else:
            messages.success(request, f"You joined {invitation.organisation.name}.")
            return redirect("team", org_id=invitation.organisation_id)
    return render(request, "invitation.html", {
        "invitation": invitation, "open": invitation_open(invitation), "refusal": refusal,
        "email_matches": (request.user.email or "").lower() == invitation.email.lower(),
    }, status=400 if refusal else 200)


# --- federated login --------------------------------------------------------------------------------------------------


class LoginView(auth_views.LoginView):
    """The local password form, with the federated login's button when a provider is configured."""

    template_name = "login.html"

    def get_context_data(self, **kwargs: Any) -> dict[str, Any]:
        return {**super().get_context_data(**kwargs), "oidc_enabled": oidc_enabled(),
                "oidc_name": settings.OIDC_PROVIDER_NAME}


def _login_refused(request: HttpRequest, message: str, status: int = 400) -> HttpResponse:
    return render(request, "login.html", {"refusal": message, "oidc_enabled": oidc_enabled(),
                                          "oidc_name": settings.OIDC_PROVIDER_NAME, "form": AuthenticationForm()},
                  status=status)


def oidc_login(request: HttpRequest) -> HttpResponse:
    if not oidc_enabled():
        raise NotFound("federated login is not configured")
    nxt = request.GET.get("next", "")
    request.session["oidc_next"] = nxt if url_has_allowed_host_and_scheme(
        nxt, allowed_hosts={request.get_host()}, require_https=request.is_secure()) else ""
    try:
        return login_redirect(request, request.build_absolute_uri(reverse("oidc-callback")))
    except REFUSALS as exc:
        return _login_refused(request, refusal_of(exc).message.removeprefix("login: "), 502)


def oidc_callback(request: HttpRequest) -> HttpResponse:
    """The provider sends the person back here: verify, find or create the person, sign them in."""
    if not oidc_enabled():
        raise NotFound("federated login is not configured")
    try:
        issuer, claims = login_complete(request)
        user = person_login_federated(issuer=issuer, claims=claims)
    except REFUSALS as exc:
        refused = refusal_of(exc)
        return _login_refused(request, refused.message.removeprefix("login: "), refused.status)
    nxt = request.session.pop("oidc_next", "")
    login(request, user, backend="django.contrib.auth.backends.ModelBackend")
    return redirect(nxt or "dashboard")
