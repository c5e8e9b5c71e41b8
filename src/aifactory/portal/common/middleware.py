"""Pages: a refusal that a view lets through is shown to the person, never answered with a 500.

A refused action (a POST: closing a call twice, a stale form, a double click) goes back to the page the action was
taken from, with the reason as a message next to it. A refused read answers the refusal's own status on a page that
carries the navigation and the reason. The API has its own translation (aifactory.portal.api); both read the same
`refusal_of`.
"""

from __future__ import annotations

from collections.abc import Callable

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme

from aifactory.portal.common.errors import REFUSALS, Forbidden, NotFound, refusal_of


class RefusalMiddleware:
    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        return self.get_response(request)

    def process_exception(self, request: HttpRequest, exc: Exception) -> HttpResponse | None:
        if request.path.startswith("/api/") or not isinstance(exc, REFUSALS):
            return None
        if isinstance(exc, Forbidden | NotFound):
            return None  # Django's own 403 and 404 handling, which these also are
        refusal = refusal_of(exc)
        if request.method == "POST":
            back = request.headers.get("Referer", "")
            if not url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()},
                                                   require_https=request.is_secure()):
                back = request.path
            messages.error(request, refusal.message, extra_tags="refusal")
            return HttpResponseRedirect(back)
        return render(request, "refused.html", {"refusal": refusal}, status=refusal.status)
