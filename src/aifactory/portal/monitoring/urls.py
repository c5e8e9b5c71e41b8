from django.urls import path

from aifactory.portal.monitoring import views

urlpatterns = [
    path("monitoring/", views.objectives_page, name="objectives"),
    path("monitoring/objectives.csv", views.objectives_csv_view, name="objectives-csv"),
    path("monitoring/objectives.json", views.objectives_json_view, name="objectives-json"),
    path("metrics", views.metrics, name="metrics"),
]
