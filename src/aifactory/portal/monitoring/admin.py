from django.contrib import admin

from aifactory.portal.monitoring.models import Objective


@admin.register(Objective)
class ObjectiveAdmin(admin.ModelAdmin):
    list_display = ("key", "title", "kpi", "baseline", "target", "start", "deadline")
    readonly_fields = ("kpi",)
