from django.apps import AppConfig


class MonitoringConfig(AppConfig):
    name = "aifactory.portal.monitoring"
    label = "monitoring"
