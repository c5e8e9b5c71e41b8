"""The funding page of an organisation: the instruments that fit it, with reasons and sources."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from aifactory.portal.common.errors import REFUSALS, Forbidden
from aifactory.portal.common.forms import add_refusal
from aifactory.portal.funding.forms import StageForm
from aifactory.portal.funding.selectors import pathways_for, stage_of
from aifactory.portal.funding.services import stage_set
from aifactory.portal.organisations.selectors import organisation_get


@login_required
def funding_page(request: HttpRequest, org_id: int) -> HttpResponse:
    org = organisation_get(user=request.user, pk=org_id)
    form = StageForm(request.POST or None, initial={"trl": stage_of(org)})
    if request.method == "POST" and form.is_valid():
        try:
            stage_set(user=request.user, organisation=org, trl=form.cleaned_data["trl"])
        except REFUSALS as exc:
            if isinstance(exc, Forbidden):
                raise
            add_refusal(form, exc)
        else:
            messages.success(request, "Stage saved.")
            return redirect("organisation-funding", org_id=org.pk)
    return render(request, "funding/funding.html", {"org": org, "data": pathways_for(org), "form": form})
