from django.contrib import admin

from aifactory.portal.access.models import Application, StateChange


class StateChangeInline(admin.TabularInline):
    model = StateChange
    extra = 0
    can_delete = False
    readonly_fields = ("at", "actor", "from_state", "to_state", "reason")


@admin.register(Application)
class ApplicationAdmin(admin.ModelAdmin):
    """Read-only here: a state changes only through its service (staff decide ethics reviews through the API)."""

    list_display = ("title", "organisation", "mode", "machine", "state", "submitted_at", "decided_at")
    list_filter = ("state", "mode", "machine")
    inlines = [StateChangeInline]
    readonly_fields = [f.name for f in Application._meta.fields]
