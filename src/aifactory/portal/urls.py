"""Every app routes its own pages in its urls.py; the API is one NinjaAPI with a router per app (api.py)."""

from django.contrib import admin
from django.urls import include, path

from aifactory.portal.api import api

urlpatterns = [
    path("", include("aifactory.portal.pages.urls")),
    path("", include("aifactory.portal.organisations.urls")),
    path("", include("aifactory.portal.mail.urls")),
    path("", include("aifactory.portal.periodic.urls")),
    path("", include("aifactory.portal.federation.urls")),
    path("", include("aifactory.portal.allocations.urls")),
    path("", include("aifactory.portal.siteaccess.urls")),
    path("", include("aifactory.portal.access.urls")),
    path("", include("aifactory.portal.review.urls")),
    path("", include("aifactory.portal.jobs.urls")),
    path("", include("aifactory.portal.runs.urls")),
    path("", include("aifactory.portal.support.urls")),
    path("", include("aifactory.portal.matchmaking.urls")),
    path("", include("aifactory.portal.obligations.urls")),
    path("", include("aifactory.portal.funding.urls")),
    path("", include("aifactory.portal.monitoring.urls")),
    path("api/v1/", api.urls),
    path("admin/", admin.site.urls),
]
