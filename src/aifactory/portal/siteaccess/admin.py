from django.contrib import admin

from aifactory.portal.siteaccess.models import SiteAccount, SiteAccountChange, SshCertificate, SshKey


@admin.register(SiteAccount)
class SiteAccountAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("username", "site", "allocation", "user", "state", "updated_at")
    list_filter = ("state", "site")
    readonly_fields = ("state",)  # moved only by its services


@admin.register(SiteAccountChange)
class SiteAccountChangeAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("account", "from_state", "to_state", "actor", "at")


@admin.register(SshKey)
class SshKeyAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("user", "name", "fingerprint", "created_at", "revoked_at")


@admin.register(SshCertificate)
class SshCertificateAdmin(admin.ModelAdmin):  # type: ignore[type-arg]
    list_display = ("serial", "principal", "account", "valid_after", "valid_before", "revoked_at")
