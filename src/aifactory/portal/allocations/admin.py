from django.contrib import admin

from aifactory.portal.allocations.models import Allocation, Notice, ProvisioningOrder, UsageCharge


@admin.register(Allocation)
class AllocationAdmin(admin.ModelAdmin):
    list_display = ("account", "organisation", "machine", "gpu_hours", "gpu_seconds_used", "ends_on")
    readonly_fields = ("gpu_seconds_used",)


@admin.register(ProvisioningOrder)
class ProvisioningOrderAdmin(admin.ModelAdmin):
    list_display = ("allocation", "site", "state", "created_at", "done_at")
    readonly_fields = ("state", "done_at", "message")


@admin.register(UsageCharge)
class UsageChargeAdmin(admin.ModelAdmin):
    list_display = ("allocation", "job", "gpu_seconds", "charged_at")
    readonly_fields = ("allocation", "job", "gpu_seconds", "charged_at")


@admin.register(Notice)
class NoticeAdmin(admin.ModelAdmin):
    list_display = ("allocation", "threshold", "gpu_hours_used", "gpu_hours", "created_at")
    list_filter = ("threshold",)
    readonly_fields = ("allocation", "threshold", "gpu_hours_used", "gpu_hours", "created_at")
