from django.apps import AppConfig


class ReviewConfig(AppConfig):
    name = "aifactory.portal.review"
    label = "review"
