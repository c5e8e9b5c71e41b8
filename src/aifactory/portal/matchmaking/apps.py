from django.apps import AppConfig


class MatchmakingConfig(AppConfig):
    name = "aifactory.portal.matchmaking"
    label = "matchmaking"
