from django.contrib import admin

from aifactory.portal.organisations.models import ApiToken, Organisation, PactPledge


class PledgeInline(admin.TabularInline):
    model = PactPledge
    extra = 0
    readonly_fields = ("pledge", "pledged_by", "pledged_at")


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ("name", "country", "sme_category", "sector", "created_at")
    list_filter = ("country", "sme_category")
    search_fields = ("name",)
    inlines = [PledgeInline]
    readonly_fields = ("sme_category",)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("user", "name", "created_at", "last_used_at")
    readonly_fields = ("digest", "created_at", "last_used_at")
