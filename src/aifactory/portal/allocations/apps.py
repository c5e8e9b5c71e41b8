from django.apps import AppConfig


class AllocationsConfig(AppConfig):
    name = "aifactory.portal.allocations"
    label = "allocations"
