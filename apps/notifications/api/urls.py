"""URLs of the notifications context's API, with their full paths (the gateway dispatches here by prefix)."""

from django.urls import URLPattern, URLResolver, path

from apps.notifications.api import views

urlpatterns: list[URLPattern | URLResolver] = [
    path("api/notifications/", views.NotificationListApi.as_view(), name="notifications"),
    path("api/notifications/read-all/", views.NotificationReadAllApi.as_view(), name="notifications-read-all"),
    path("api/notifications/unread-count/", views.UnreadCountApi.as_view(), name="notifications-unread-count"),
    path("api/notifications/preferences/", views.PreferenceApi.as_view(), name="notification-preferences"),
    path(
        "api/notifications/<int:notification_id>/read/",
        views.NotificationReadApi.as_view(),
        name="notification-read",
    ),
]
