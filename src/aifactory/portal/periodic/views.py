from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from aifactory.portal.periodic.selectors import schedule


@login_required
def schedule_page(request: HttpRequest) -> HttpResponse:
    """The periodic tasks: how often each runs, when it was last enqueued and how that run went (staff)."""
    return render(request, "periodic.html", {"rows": schedule(request.user)})
