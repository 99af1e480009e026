"""`manage.py monitoring_summarise [--all]`: the analytics' per-day summaries, outside Celery.

Without options it does what the beat task does (the days changed since the last run). `--all` first marks every
day changed, for when JobFact rows were written without moving their day's version on (a data fix by hand, an old
consumer still running during an upgrade): the summaries are then rebuilt from the projection.
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.monitoring.services.summaries import job_days_invalidate, job_days_summarise


class Command(BaseCommand):
    help = "Recompute the analytics' per-day summaries of the days whose jobs changed (every day with --all)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--all", action="store_true", help="rebuild every day's summary")

    def handle(self, *args: Any, **options: Any) -> None:
        marked = job_days_invalidate() if options["all"] else 0
        done = job_days_summarise()
        self.stdout.write(f"{done} days summarised" + (f" ({marked} marked changed first)" if options["all"] else ""))
