from django.contrib import admin

from aifactory.portal.obligations.models import CallRule, Evidence, Obligation, Reminder


@admin.register(Obligation)
class ObligationAdmin(admin.ModelAdmin):
    list_display = ("pk", "organisation", "call", "template", "due_on", "state")
    list_filter = ("state", "template")
    readonly_fields = ("state",)


admin.site.register(CallRule)
admin.site.register(Evidence)
admin.site.register(Reminder)
