from django.urls import path

from aifactory.portal.pages import views

urlpatterns = [
    path("", views.home, name="home"),
    path("dashboard/", views.dashboard, name="dashboard"),
    path("organisations/<int:org_id>/", views.organisation_detail, name="organisation-detail"),
    path("organisations/<int:org_id>/pledges/", views.organisation_pledges, name="organisation-pledges"),
    path("allocations/<int:allocation_id>/", views.allocation_detail, name="allocation-detail"),
    path("allocations/<int:allocation_id>/usage.csv", views.allocation_usage_csv, name="allocation-usage-csv"),
    path("operator/", views.operator_page, name="operator"),
    path("operator/live/", views.operator_live, name="operator-live"),
]
