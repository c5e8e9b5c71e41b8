from django.contrib import admin

from aifactory.portal.jobs.models import Job


@admin.register(Job)
class JobAdmin(admin.ModelAdmin):
    list_display = ("name", "uid", "allocation", "site", "state", "gpus", "gpu_seconds", "created_at")
    list_filter = ("state", "site")
    search_fields = ("uid", "name")
    readonly_fields = [f.name for f in Job._meta.fields]
