from django.apps import AppConfig


class FederationConfig(AppConfig):
    name = "aifactory.portal.federation"
    label = "federation"
