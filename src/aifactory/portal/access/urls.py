from django.urls import path

from aifactory.portal.access import views

urlpatterns = [
    path("applications/new/", views.application_new, name="application-new"),
    path("applications/<int:app_id>/", views.application_detail, name="application-detail"),
    path("applications/<int:app_id>/training/<str:filename>", views.application_training_file,
         name="application-training-file"),
    path("applications/<int:app_id>/decide/", views.application_decide_view, name="application-decide"),
    path("figures/", views.stats_page, name="figures"),
    path("figures/<slug:table>.csv", views.figures_csv, name="figures-csv"),
]
