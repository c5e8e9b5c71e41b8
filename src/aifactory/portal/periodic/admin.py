from django.contrib import admin

from aifactory.portal.periodic.models import PeriodicSlot, WorkerBeat


@admin.register(PeriodicSlot)
class PeriodicSlotAdmin(admin.ModelAdmin):
    list_display = ("name", "starts_at", "enqueued_at", "task_id")
    list_filter = ("name",)
    readonly_fields = ("name", "slot", "starts_at", "enqueued_at", "task_id")


@admin.register(WorkerBeat)
class WorkerBeatAdmin(admin.ModelAdmin):
    list_display = ("worker_id", "seen_at")
    readonly_fields = ("worker_id", "seen_at")
