from django.contrib import admin

from aifactory.portal.access.models import Application, Route, StateChange


class StateChangeInline(admin.TabularInline):
    model = StateChange
    extra = 0
    can_delete = False
    readonly_fields = ("at", "actor", "from_state", "to_state", "reason")


class RouteInline(admin.TabularInline):
    model = Route
    extra = 0
    can_delete = False
    readonly_fields = ("machine", "factory", "gpu_hours", "fit", "reasons", "method", "reason", "decided_by",
                       "decided_at", "current")


@admin.register(Application)
class ApplicationAdmin(admin.ModelAdmin):
    """Read-only here: a state changes only through its service (call managers decide through the API and pages)."""

    list_display = ("title", "organisation", "mode", "machine", "state", "submitted_at", "decided_at")
    list_filter = ("state", "mode", "machine")
    inlines = [StateChangeInline, RouteInline]
    readonly_fields = [f.name for f in Application._meta.fields]
