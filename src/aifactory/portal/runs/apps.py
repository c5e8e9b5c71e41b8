from django.apps import AppConfig


class RunsConfig(AppConfig):
    name = "aifactory.portal.runs"
    label = "runs"
