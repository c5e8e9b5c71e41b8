from django.contrib import admin

from aifactory.portal.mail.models import OutgoingMail


@admin.register(OutgoingMail)
class OutgoingMailAdmin(admin.ModelAdmin):
    list_display = ("created_at", "kind", "subject", "state", "attempts", "sent_at")
    list_filter = ("kind", "state")
    readonly_fields = ("to", "subject", "body", "kind", "key", "state", "attempts", "last_error", "created_at",
                       "sent_at")
