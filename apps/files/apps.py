"""App configuration of the files context."""

from django.apps import AppConfig


class FilesConfig(AppConfig):
    name = "apps.files"
    label = "files"
    verbose_name = "Files"

    def ready(self) -> None:
        from apps.files import tasks  # noqa: F401 (registers the tasks services queue by name)
