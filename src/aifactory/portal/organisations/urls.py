from django.contrib.auth import views as auth_views
from django.urls import path

from aifactory.portal.organisations import views

urlpatterns = [
    path("signup/", views.signup, name="signup"),
    path("login/", views.LoginView.as_view(), name="login"),
    path("oidc/login/", views.oidc_login, name="oidc-login"),
    path("oidc/callback/", views.oidc_callback, name="oidc-callback"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("organisations/new/", views.organisation_new, name="organisation-new"),
    path("organisations/<int:org_id>/team/", views.team, name="team"),
    path("organisations/<int:org_id>/team/invite/", views.team_invite, name="team-invite"),
    path("organisations/<int:org_id>/team/<str:username>/remove/", views.team_remove, name="team-remove"),
    path("organisations/<int:org_id>/team/<str:username>/role/", views.team_role_change, name="team-role"),
    path("organisations/<int:org_id>/invitations/<int:invitation_id>/revoke/", views.team_revoke,
         name="team-revoke"),
    path("invitations/<str:token>/", views.invitation_page, name="invitation"),
]
