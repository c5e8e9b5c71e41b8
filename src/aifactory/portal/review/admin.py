from django.contrib import admin

from aifactory.portal.review.models import (
    Assignment,
    Budget,
    Call,
    CallStateChange,
    ConflictDeclaration,
    Criterion,
    Review,
    Reviewer,
    SelectionRun,
)


class CriterionInline(admin.TabularInline):
    model = Criterion
    extra = 0
    readonly_fields = ("name", "weight", "low", "high", "position")


class BudgetInline(admin.TabularInline):
    model = Budget
    extra = 0
    readonly_fields = ("machine", "gpu_hours")


class CallStateChangeInline(admin.TabularInline):
    model = CallStateChange
    extra = 0
    can_delete = False
    readonly_fields = ("at", "actor", "from_state", "to_state", "reason")


@admin.register(Call)
class CallAdmin(admin.ModelAdmin):
    """Read-only here: a call moves only through its services (the pages and the API)."""

    list_display = ("title", "mode", "state", "deadline", "decision_by", "winner_limit")
    list_filter = ("mode", "state")
    inlines = [CriterionInline, BudgetInline, CallStateChangeInline]
    readonly_fields = [f.name for f in Call._meta.fields]


@admin.register(Reviewer)
class ReviewerAdmin(admin.ModelAdmin):
    list_display = ("name", "user", "affiliation", "country", "max_load", "active")
    list_filter = ("country", "active")
    search_fields = ("name", "affiliation")


@admin.register(Assignment)
class AssignmentAdmin(admin.ModelAdmin):
    list_display = ("call", "application", "reviewer", "match", "assigned_at")
    readonly_fields = [f.name for f in Assignment._meta.fields]


@admin.register(Review)
class ReviewAdmin(admin.ModelAdmin):
    list_display = ("assignment", "score", "submitted_at")
    readonly_fields = [f.name for f in Review._meta.fields]


@admin.register(SelectionRun)
class SelectionRunAdmin(admin.ModelAdmin):
    list_display = ("call", "objective", "run_by", "run_at")
    readonly_fields = [f.name for f in SelectionRun._meta.fields]


@admin.register(ConflictDeclaration)
class ConflictDeclarationAdmin(admin.ModelAdmin):
    list_display = ("reviewer", "application", "declared_at")
    readonly_fields = [f.name for f in ConflictDeclaration._meta.fields]
