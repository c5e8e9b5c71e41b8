from django.contrib import admin

from aifactory.portal.federation.models import Machine, Site


@admin.register(Machine)
class MachineAdmin(admin.ModelAdmin):
    list_display = ("key", "name", "country", "gpu_model", "gpu_memory_gb", "total_gpus")
    search_fields = ("key", "name")


@admin.register(Site)
class SiteAdmin(admin.ModelAdmin):
    list_display = ("name", "machine", "backend", "last_seen_at", "queue_wait_s")
    readonly_fields = ("token_digest", "last_seen_at", "queue_wait_s")
