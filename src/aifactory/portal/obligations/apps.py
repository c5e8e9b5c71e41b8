from django.apps import AppConfig


class ObligationsConfig(AppConfig):
    name = "aifactory.portal.obligations"
    label = "obligations"
