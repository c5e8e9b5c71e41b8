from __future__ import annotations

from django.contrib import messages
from django.contrib.auth import login
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from aifactory.portal.common.errors import REFUSALS
from aifactory.portal.common.forms import add_refusal
from aifactory.portal.organisations.forms import OrganisationForm, SignupForm
from aifactory.portal.organisations.selectors import organisation_eligibility
from aifactory.portal.organisations.services import organisation_register, user_signup


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
