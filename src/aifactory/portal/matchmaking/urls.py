from django.urls import path

from aifactory.portal.matchmaking import views

urlpatterns = [
    path("matchmaking/", views.matchmaking_page, name="matchmaking"),
    path("matchmaking/challenges/new/", views.challenge_new, name="challenge-new"),
    path("matchmaking/challenges/<int:pk>/", views.challenge_page, name="challenge"),
    path("matchmaking/challenges/<int:pk>/interest/", views.challenge_interest, name="challenge-interest"),
    path("matchmaking/profile/", views.profile_edit, name="startup-profile"),
    path("matchmaking/matches/<int:pk>/", views.match_page, name="match"),
    path("matchmaking/matches/<int:pk>/<slug:action>/", views.match_act, name="match-act"),
]
