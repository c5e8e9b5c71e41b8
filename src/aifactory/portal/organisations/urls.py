from django.contrib.auth import views as auth_views
from django.urls import path

from aifactory.portal.organisations import views

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("login/", auth_views.LoginView.as_view(template_name="login.html"), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("organisations/new/", views.organisation_new, name="organisation-new"),
]
