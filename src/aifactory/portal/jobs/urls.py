from django.urls import path

from aifactory.portal.jobs import views

urlpatterns = [
    path("jobs/new/", views.job_new, name="job-new"),
    path("jobs/new/spec/", views.job_new_spec, name="job-new-spec"),
    path("jobs/table/", views.jobs_table, name="jobs-table"),
    path("jobs/<str:uid>/", views.job_detail, name="job-detail"),
    path("jobs/<str:uid>/cancel/", views.job_cancel_view, name="job-cancel"),
]
