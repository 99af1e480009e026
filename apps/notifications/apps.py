"""App configuration of the notifications context."""

from django.apps import AppConfig


class NotificationsConfig(AppConfig):
    name = "apps.notifications"
    label = "notifications"
    verbose_name = "Notifications"

    def ready(self) -> None:
        from apps.notifications import tasks  # noqa: F401 (registers the tasks services queue by name)
