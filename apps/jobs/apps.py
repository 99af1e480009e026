"""App configuration of the jobs context."""

from django.apps import AppConfig


class JobsConfig(AppConfig):
    name = "apps.jobs"
    label = "jobs"
    verbose_name = "Jobs"

    def ready(self) -> None:
        from apps.jobs import tasks  # noqa: F401 (registers the tasks the dispatcher sends by name)
