from django.urls import path

from aifactory.portal.obligations import views

urlpatterns = [
    path("obligations/", views.obligations_page, name="obligations"),
    path("obligations/<int:pk>/", views.obligation_page, name="obligation"),
    path("calls/templates/", views.templates_page, name="call-templates"),
]
