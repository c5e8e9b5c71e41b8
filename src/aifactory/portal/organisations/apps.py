from django.apps import AppConfig


class OrganisationsConfig(AppConfig):
    name = "aifactory.portal.organisations"
    label = "organisations"
