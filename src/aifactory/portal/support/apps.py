from django.apps import AppConfig


class SupportConfig(AppConfig):
    name = "aifactory.portal.support"
    label = "support"
