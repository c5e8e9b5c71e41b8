from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "aifactory.portal.jobs"
    label = "jobs"
