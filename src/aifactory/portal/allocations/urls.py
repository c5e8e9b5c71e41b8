from django.urls import path

from aifactory.portal.allocations import views

urlpatterns = [
    path("notices/", views.notices_page, name="notices"),
]
