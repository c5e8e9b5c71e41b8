from django.urls import path

from aifactory.portal.mail import views

urlpatterns = [
    path("outbox/", views.outbox_page, name="outbox"),
]
