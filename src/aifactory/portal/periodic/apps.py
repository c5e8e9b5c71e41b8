from django.apps import AppConfig


class PeriodicConfig(AppConfig):
    name = "aifactory.portal.periodic"
    label = "periodic"
