from django.urls import path

from aifactory.portal.periodic import views

urlpatterns = [
    path("periodic/", views.schedule_page, name="periodic"),
]
