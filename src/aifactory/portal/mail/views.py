from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from aifactory.portal.mail.selectors import outbox


@login_required
def outbox_page(request: HttpRequest) -> HttpResponse:
    """What the portal sent and is sending: state, attempts, the last error of a failed delivery."""
    return render(request, "outbox.html", {"mails": outbox(request.user)[:200]})
