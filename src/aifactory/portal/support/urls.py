from django.urls import path

from aifactory.portal.support import views

urlpatterns = [
    path("support/", views.support_page, name="support"),
    path("support/new/", views.request_new, name="support-new"),
    path("support/requests/<int:pk>/", views.request_page, name="support-request"),
    path("support/requests/<int:pk>/<slug:action>/", views.request_act, name="support-act"),
    path("support/centres/<slug:key>/", views.centre_page, name="support-centre"),
]
