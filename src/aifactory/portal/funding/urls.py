from django.urls import path

from aifactory.portal.funding import views

urlpatterns = [
    path("organisations/<int:org_id>/funding/", views.funding_page, name="organisation-funding"),
]
