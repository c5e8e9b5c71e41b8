from django.contrib import admin

from aifactory.portal.runs.models import Run, RunCheckpoint, RunSegment, RunStateChange


@admin.register(Run)
class RunAdmin(admin.ModelAdmin):
    list_display = ("name", "organisation", "state", "steps_done", "target_steps", "created_at")
    list_filter = ("state",)
    search_fields = ("name",)
    readonly_fields = [f.name for f in Run._meta.fields]


@admin.register(RunSegment)
class RunSegmentAdmin(admin.ModelAdmin):
    list_display = ("run", "index", "job", "cause", "start_step", "created_at")
    readonly_fields = [f.name for f in RunSegment._meta.fields]


@admin.register(RunCheckpoint)
class RunCheckpointAdmin(admin.ModelAdmin):
    list_display = ("run", "step", "tokens", "path", "written_at")
    readonly_fields = [f.name for f in RunCheckpoint._meta.fields]


@admin.register(RunStateChange)
class RunStateChangeAdmin(admin.ModelAdmin):
    list_display = ("run", "from_state", "to_state", "reason", "at")
    readonly_fields = [f.name for f in RunStateChange._meta.fields]
