from django.apps import AppConfig


class FundingConfig(AppConfig):
    name = "aifactory.portal.funding"
    label = "funding"
