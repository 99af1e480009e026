"""WebSocket routes of the notifications context, mounted by config/asgi.py in every deployable."""

from django.urls import path

from apps.notifications.websocket import NotificationSocket

websocket_urlpatterns = [path("ws/notifications/", NotificationSocket.as_asgi(), name="ws-notifications")]
