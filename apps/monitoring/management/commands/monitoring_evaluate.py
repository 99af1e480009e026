"""`manage.py monitoring_evaluate [--every SECONDS]`: the health evaluation and alert rules, outside Celery.

The beat task does the same inside a worker; running this from elsewhere (cron, its own container) also catches
the case a task cannot: no worker at all.
"""

from __future__ import annotations

import json
import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.kernel.management.commands._signals import stop_on_signals
from apps.monitoring.services.evaluation import monitoring_evaluate


class Command(BaseCommand):
    help = "Probe every dependency, record the snapshot and raise or resolve alerts (once, or every N seconds)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--every", type=float, default=0.0, help="repeat every N seconds until stopped")

    def handle(self, *args: Any, **options: Any) -> None:
        stop = stop_on_signals() if options["every"] > 0 else threading.Event()
        while True:
            evaluation = monitoring_evaluate()
            self.stdout.write(
                json.dumps(
                    {
                        "status": evaluation.report.status,
                        "checked_at": evaluation.report.checked_at.isoformat(),
                        "down": [c.name for c in evaluation.report.components if c.status != "ok"],
                        "opened": [a.fingerprint for a in evaluation.changes.opened],
                        "resolved": [a.fingerprint for a in evaluation.changes.resolved],
                    }
                )
            )
            if options["every"] <= 0 or stop.wait(options["every"]):
                return
