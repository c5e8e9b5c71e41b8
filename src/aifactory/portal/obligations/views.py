"""Open-science pages: the obligations (overdue ones for call managers), one obligation's report, the templates."""

from __future__ import annotations

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render

from aifactory.core import call_templates as core_templates
from aifactory.portal.common.errors import REFUSALS
from aifactory.portal.common.forms import add_refusal
from aifactory.portal.obligations.forms import PublicationForm, ReleaseForm
from aifactory.portal.obligations.selectors import is_overdue, obligation_get, obligations_visible, templates_shown
from aifactory.portal.obligations.services import publication_submit, release_submit
from aifactory.portal.organisations.selectors import is_call_manager


@login_required
def obligations_page(request: HttpRequest) -> HttpResponse:
    rows = [(o, is_overdue(o)) for o in obligations_visible(request.user)]
    return render(request, "obligations/list.html", {
        "rows": rows, "manager": is_call_manager(request.user), "overdue": sum(1 for _, late in rows if late)})


@login_required
def obligation_page(request: HttpRequest, pk: int) -> HttpResponse:
    o = obligation_get(user=request.user, pk=pk)
    t = core_templates.template(o.template)
    release = ReleaseForm(request.POST if request.POST.get("do") == "release" else None, prefix="release")
    publication = PublicationForm(request.POST if request.POST.get("do") == "publication" else None,
                                  prefix="publication")
    if request.method == "POST":
        try:
            if release.is_bound and release.is_valid():
                release_submit(user=request.user, obligation=o, licence=release.cleaned_data["licence"],
                               url=release.cleaned_data["url"])
                messages.success(request, "Release accepted: the obligation is met.")
                return redirect("obligation", pk=pk)
            if publication.is_bound and publication.is_valid():
                publication_submit(user=request.user, obligation=o, identifier=publication.cleaned_data["identifier"])
                messages.success(request, "Publication accepted: the obligation is met.")
                return redirect("obligation", pk=pk)
        except REFUSALS as exc:
            add_refusal(release if release.is_bound else publication, exc)
    member = o.organisation.members.filter(pk=request.user.pk).exists()
    return render(request, "obligations/detail.html", {
        "o": o, "t": t, "overdue": is_overdue(o), "member": member, "release": release, "publication": publication,
        "evidence": o.evidence.all(), "history": o.history.all()})


@login_required
def templates_page(request: HttpRequest) -> HttpResponse:
    return render(request, "obligations/templates.html", {"templates": templates_shown()})
