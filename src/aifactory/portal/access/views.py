from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from aifactory.portal.access.forms import ApplicationForm
from aifactory.portal.access.selectors import application_get
from aifactory.portal.access.services import application_submit
from aifactory.portal.common.errors import PortalError
from aifactory.portal.common.forms import add_portal_error
from aifactory.portal.organisations.selectors import organisation_get, organisations_of


@login_required
def application_new(request: HttpRequest) -> HttpResponse:
    orgs = [(o.pk, o.name) for o in organisations_of(request.user)]
    if not orgs:
        return redirect("organisation-new")
    form = ApplicationForm(request.POST or None, organisations=orgs)
    if request.method == "POST" and form.is_valid():
        data = dict(form.cleaned_data)
        org = organisation_get(user=request.user, pk=data.pop("organisation"))
        data["machine_key"] = data.pop("machine")
        try:
            app = application_submit(organisation=org, user=request.user, **data)
        except PortalError as exc:
            add_portal_error(form, exc, aliases={"machine_key": "machine"})
        else:
            return redirect("application-detail", app_id=app.pk)
    return render(request, "application_form.html", {"form": form})


@login_required
def application_detail(request: HttpRequest, app_id: int) -> HttpResponse:
    app = application_get(user=request.user, pk=app_id)
    return render(request, "application_detail.html", {"app": app, "history": app.history.all()})
