from django.contrib import admin

from aifactory.portal.jobs.models import Job, JobPlacement, JobRevocation, JobStateChange


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("name", "uid", "allocation", "site", "state", "gpus", "gpu_seconds", "created_at")
    list_filter = ("state", "site")
    search_fields = ("uid", "name")
    readonly_fields = [f.name for f in Job._meta.fields]


@admin.register(JobPlacement)
class JobPlacementAdmin(admin.ModelAdmin):
    list_display = ("job", "site", "allocation", "cause", "held", "created_at")
    list_filter = ("held", "site")
    readonly_fields = [f.name for f in JobPlacement._meta.fields]


@admin.register(JobRevocation)
class JobRevocationAdmin(admin.ModelAdmin):
    list_display = ("job", "site", "reason", "created_at", "done_at", "found", "state", "gpu_seconds", "released")
    list_filter = ("site", "released")
    readonly_fields = [f.name for f in JobRevocation._meta.fields]


@admin.register(JobStateChange)
class JobStateChangeAdmin(admin.ModelAdmin):
    list_display = ("job", "from_state", "to_state", "actor", "site", "at")
    list_filter = ("to_state", "site")
    readonly_fields = [f.name for f in JobStateChange._meta.fields]
