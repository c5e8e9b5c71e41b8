from django.apps import AppConfig


class SiteAccessConfig(AppConfig):
    name = "aifactory.portal.siteaccess"
    label = "siteaccess"
    verbose_name = "site accounts and SSH certificates"
