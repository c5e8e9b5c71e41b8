"""Matchmaking pages: challenges, the startup's profile and suggestions, the ranked matches and mutual interest."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_POST

from aifactory.portal.common.errors import REFUSALS
from aifactory.portal.common.forms import add_refusal
from aifactory.portal.matchmaking.forms import ChallengeForm, InterestForm, ProfileForm
from aifactory.portal.matchmaking.models import StartupProfile
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
    challenge_post,
    interest_express,
    match_collaboration,
    match_decline,
    profile_save,
)
from aifactory.portal.organisations.selectors import organisation_get, organisations_of


@login_required
def matchmaking_page(request: HttpRequest) -> HttpResponse:
    user = request.user
    profiles = [(p, suggestions_for(p)) for p in profiles_of(user)]
    return render(request, "matchmaking/index.html", {
        "challenges": [challenge_view(c, None, own=is_member(user, c.organisation)) for c in challenges_open()],
        "profiles": profiles, "matches": matches_of(user),
    })


@login_required
def challenge_new(request: HttpRequest) -> HttpResponse:
    orgs = [(o.pk, o.name) for o in organisations_of(request.user)]
    form = ChallengeForm(request.POST or None, organisations=orgs)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            c = challenge_post(user=request.user, organisation=organisation_get(user=request.user,
                                                                                pk=data.pop("organisation")), **data)
        except REFUSALS as exc:
            add_refusal(form, exc)
        else:
            messages.success(request, "Challenge posted.")
            return redirect("challenge", pk=c.pk)
    return render(request, "matchmaking/form.html", {"form": form, "title": "Post a challenge",
                                                     "button": "Post the challenge"})


@login_required
def profile_edit(request: HttpRequest) -> HttpResponse:
    orgs = [(o.pk, o.name) for o in organisations_of(request.user)]
    existing = profiles_of(request.user).first()
    initial = {"organisation": existing.organisation_id, "sectors": existing.sectors,
               "model_types": existing.model_types, "data_kinds": existing.data_kinds,
               "team_size": existing.team_size, "summary": existing.summary} if existing else None
    form = ProfileForm(request.POST or None, organisations=orgs, initial=initial)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        try:
            profile_save(user=request.user, organisation=organisation_get(user=request.user,
                                                                          pk=data.pop("organisation")), **data)
        except REFUSALS as exc:
            add_refusal(form, exc)
        else:
            messages.success(request, "Profile saved.")
            return redirect("matchmaking")
    return render(request, "matchmaking/form.html", {"form": form, "title": "Your startup's capability profile",
                                                     "button": "Save the profile"})


@login_required
def challenge_page(request: HttpRequest, pk: int) -> HttpResponse:
    c = challenge_get(user=request.user, pk=pk)
    own = is_member(request.user, c.organisation)
    mine = list(profiles_of(request.user))
    return render(request, "matchmaking/challenge.html", {
        "c": challenge_view(c, None, own=own), "own": own, "shortlist": shortlist_of(c) if own else [],
        "my_profiles": mine,
    })


@login_required
@require_POST
def challenge_interest(request: HttpRequest, pk: int) -> HttpResponse:
    c = challenge_get(user=request.user, pk=pk)
    form = InterestForm(request.POST)
    if not form.is_valid():
        messages.error(request, "profile: choose a startup profile")
        return redirect("challenge", pk=pk)
    profile = StartupProfile.objects.select_related("organisation").filter(pk=form.cleaned_data["profile"]).first()
    if profile is None:
        raise Http404("no such profile")
    m = interest_express(user=request.user, challenge=c, profile=profile)
    messages.success(request, "Both sides are interested: contacts exchanged." if m.state == "mutual"
                     else "Interest recorded; contact details are exchanged once the other side agrees.")
    return redirect("match", pk=m.pk)


@login_required
def match_page(request: HttpRequest, pk: int) -> HttpResponse:
    m = match_get(user=request.user, pk=pk)
    company = is_member(request.user, m.challenge.organisation)
    return render(request, "matchmaking/match.html", {
        "m": m, "company": company, "challenge": challenge_view(m.challenge, m, own=company),
        "startup": profile_view(m.profile, m), "history": m.history.all(),
    })


@login_required
@require_POST
def match_act(request: HttpRequest, pk: int, action: str) -> HttpResponse:
    m = match_get(user=request.user, pk=pk)
    note = request.POST.get("note", "")[:1000]
    if action == "decline":
        match_decline(user=request.user, match=m, reason=note)
    elif action == "collaboration":
        match_collaboration(user=request.user, match=m, note=note)
    else:
        raise Http404("no such action")
    messages.success(request, f"Done: {action}.")
    return redirect("match", pk=pk)
