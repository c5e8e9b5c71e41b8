from django.apps import AppConfig


class MailConfig(AppConfig):
    name = "aifactory.portal.mail"
    label = "mail"
