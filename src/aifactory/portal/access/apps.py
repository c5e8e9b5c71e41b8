from django.apps import AppConfig


class AccessConfig(AppConfig):
    name = "aifactory.portal.access"
    label = "access"
