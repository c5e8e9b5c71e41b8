from __future__ import annotations

from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from aifactory.portal.allocations.selectors import notices_of


@login_required
def notices_page(request: HttpRequest) -> HttpResponse:
    return render(request, "notices.html", {"notices": notices_of(request.user)[:200]})
