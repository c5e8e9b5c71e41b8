from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from aifactory.portal.access import views as access_views
from aifactory.portal.allocations import views as allocation_views
from aifactory.portal.api import api
from aifactory.portal.federation import views as federation_views
from aifactory.portal.jobs import views as job_views
from aifactory.portal.organisations import views as org_views

urlpatterns = [
    path("", org_views.home, name="home"),
    path("signup/", org_views.signup, name="signup"),
    path("login/", auth_views.LoginView.as_view(template_name="login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("dashboard/", org_views.dashboard, name="dashboard"),
    path("organisations/new/", org_views.organisation_new, name="organisation-new"),
    path("organisations/<int:org_id>/", org_views.organisation_detail, name="organisation-detail"),
    path("organisations/<int:org_id>/pledges/", org_views.organisation_pledges, name="organisation-pledges"),
    path("applications/new/", access_views.application_new, name="application-new"),
    path("applications/<int:app_id>/", access_views.application_detail, name="application-detail"),
    path("jobs/new/", job_views.job_new, name="job-new"),
    path("jobs/new/spec/", job_views.job_new_spec, name="job-new-spec"),
    path("jobs/table/", job_views.jobs_table, name="jobs-table"),
    path("jobs/<str:uid>/", job_views.job_detail, name="job-detail"),
    path("jobs/<str:uid>/cancel/", job_views.job_cancel_view, name="job-cancel"),
    path("notices/", allocation_views.notices_page, name="notices"),
    path("allocations/<int:allocation_id>/", allocation_views.allocation_detail, name="allocation-detail"),
    path("allocations/<int:allocation_id>/usage.csv", allocation_views.allocation_usage_csv,
         name="allocation-usage-csv"),
    path("catalog/", federation_views.catalog_page, name="catalog"),
    path("plan/", federation_views.plan_page, name="plan"),
    path("plan/estimate/", federation_views.plan_estimate, name="plan-estimate"),
    path("operator/live/", access_views.operator_live, name="operator-live"),
    path("figures/<slug:table>.csv", access_views.figures_csv, name="figures-csv"),
    path("", include("aifactory.portal.review.urls")),
    path("api/v1/", api.urls),
    path("admin/", admin.site.urls),
]
