from django.contrib import admin

from aifactory.portal.support.models import SupportCentre, SupportMessage, SupportRequest, SupportRequestStateChange


@admin.register(SupportCentre)
class SupportCentreAdmin(admin.ModelAdmin):
    list_display = ("key", "name", "factory", "first_answer_working_days")


class MessageInline(admin.TabularInline):
    model = SupportMessage
    extra = 0
    readonly_fields = ("author", "kind", "body", "at", "mailed_to")


class HistoryInline(admin.TabularInline):
    model = SupportRequestStateChange
    extra = 0
    readonly_fields = ("actor", "from_state", "to_state", "reason", "at")


@admin.register(SupportRequest)
class SupportRequestAdmin(admin.ModelAdmin):
    list_display = ("pk", "title", "organisation", "topic", "centre", "state", "opened_at")
    list_filter = ("state", "topic", "centre")
    readonly_fields = ("state",)
    inlines = [MessageInline, HistoryInline]
