from django.contrib import admin

from aifactory.portal.organisations.models import ApiToken, Organisation, PactPledge, RelatedEnterprise, UserRole


class PledgeInline(admin.TabularInline):
    model = PactPledge
    extra = 0
    readonly_fields = ("pledge", "pledged_by", "pledged_at")


class RelatedInline(admin.TabularInline):
    model = RelatedEnterprise
    extra = 0
    readonly_fields = ("name", "relation", "headcount", "turnover_eur", "balance_sheet_eur", "share")


@admin.register(Organisation)
class OrganisationAdmin(admin.ModelAdmin):
    list_display = ("name", "country", "sme_category", "sector", "created_at")
    list_filter = ("country", "sme_category")
    search_fields = ("name",)
    inlines = [PledgeInline, RelatedInline]
    readonly_fields = ("sme_category",)


@admin.register(ApiToken)
class ApiTokenAdmin(admin.ModelAdmin):
    list_display = ("user", "name", "created_at", "last_used_at")
    readonly_fields = ("digest", "created_at", "last_used_at")


@admin.register(UserRole)
class UserRoleAdmin(admin.ModelAdmin):
    list_display = ("user", "role", "factory", "granted_by", "granted_at")
    list_filter = ("role", "factory")
    readonly_fields = ("granted_by", "granted_at")
