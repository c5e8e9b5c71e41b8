from django.urls import path

from aifactory.portal.runs import views

urlpatterns = [
    path("runs/", views.run_list, name="runs"),
    path("runs/new/", views.run_new, name="run-new"),
    path("runs/<int:pk>/", views.run_detail, name="run-detail"),
    path("runs/<int:pk>/cancel/", views.run_cancel_view, name="run-cancel"),
]
