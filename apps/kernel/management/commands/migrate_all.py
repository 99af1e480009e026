"""Migrate every database alias: each context's own database plus legacy (what `make run` calls)."""

from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Apply migrations to every configured database alias."

    def handle(self, *args: Any, **options: Any) -> None:
        verbosity = options["verbosity"]
        for alias in settings.DATABASES:
            if alias == "default":
                continue
            if verbosity:
                self.stdout.write(f"== {alias}")
            call_command("migrate", database=alias, interactive=False, verbosity=max(verbosity - 1, 0))
        self.stdout.write(self.style.SUCCESS(f"migrated {len(settings.DATABASES) - 1} database aliases"))
