from django.contrib import admin

from aifactory.portal.matchmaking.models import Challenge, Match, StartupProfile


@admin.register(Challenge)
class ChallengeAdmin(admin.ModelAdmin):
    list_display = ("pk", "title", "organisation", "sector", "state", "created_at")
    list_filter = ("sector", "state")


@admin.register(StartupProfile)
class StartupProfileAdmin(admin.ModelAdmin):
    list_display = ("pk", "organisation", "team_size", "updated_at")


@admin.register(Match)
class MatchAdmin(admin.ModelAdmin):
    list_display = ("pk", "challenge", "profile", "score", "state", "mutual_at", "collaboration_at")
    list_filter = ("state",)
    readonly_fields = ("state",)
