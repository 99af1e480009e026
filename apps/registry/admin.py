"""Django admin of the registry: services with their panels, and the health history (read-only)."""

from __future__ import annotations

from django.contrib import admin
from django.http import HttpRequest

from apps.registry.models import HealthCheck, ImputationService, ReferencePanel


class PanelInline(admin.TabularInline):
    model = ReferencePanel
    fields = ("slug", "name", "build", "populations", "is_available", "synced_at")
    readonly_fields = ("synced_at",)
    extra = 0


@admin.register(ImputationService)
class ImputationServiceAdmin(admin.ModelAdmin):
    list_display = ("name", "slug", "api_type", "base_url", "is_active", "health_status", "health_checked_at")
    list_filter = ("api_type", "is_active", "health_status", "country")
    search_fields = ("name", "slug", "base_url", "institution")
    readonly_fields = (
        "health_status",
        "health_checked_at",
        "health_response_time_ms",
        "health_message",
        "unhealthy_since",
        "next_health_check_at",
        "server_info",
        "server_info_at",
        "panels_synced_at",
    )
    inlines = [PanelInline]


@admin.register(HealthCheck)
class HealthCheckAdmin(admin.ModelAdmin):
    """Probe history, written by the health checks only."""

    list_display = ("service", "status", "checked_at", "response_time_ms", "message")
    list_filter = ("status",)
    list_select_related = ("service",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: HealthCheck | None = None) -> bool:
        return False
