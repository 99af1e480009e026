"""Django admin of the notifications context: notifications, preferences and e-mail deliveries, for support."""

from __future__ import annotations

from django.contrib import admin

from apps.notifications.models import EmailDelivery, Notification, NotificationPreference


@admin.register(Notification)
class NotificationAdmin(admin.ModelAdmin):
    list_display = ("id", "user_id", "type", "title", "priority", "created_at", "read_at", "sent_at")
    list_filter = ("type", "priority", "in_app", "email_wanted")
    search_fields = ("title", "=user_id")
    readonly_fields = ("dedupe_key", "email_delivery", "email_due_at", "sent_at")


@admin.register(NotificationPreference)
class NotificationPreferenceAdmin(admin.ModelAdmin):
    list_display = ("user_id", "digest", "quiet_hours_start", "quiet_hours_end", "updated_at")
    search_fields = ("=user_id",)


@admin.register(EmailDelivery)
class EmailDeliveryAdmin(admin.ModelAdmin):
    list_display = ("id", "user_id", "kind", "digest", "status", "attempts", "created_at", "sent_at")
    list_filter = ("status", "kind", "digest")
    search_fields = ("=user_id", "to_address")
    readonly_fields = ("claimed_until", "attempts", "sent_at", "error")
