"""Run the outbox relay: every context's committed events go to their Redis streams."""

import threading
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.kernel.management.commands._signals import stop_on_signals
from apps.kernel.relay import relay_publish_pending, relay_run
from apps.kernel.streams import redis_client


class Command(BaseCommand):
    help = "Publish outbox events to Redis Streams until stopped (or once with --once)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--once", action="store_true", help="publish one batch per outbox and exit")
        parser.add_argument("--interval", type=float, default=0.5, help="seconds between polls when idle")
        parser.add_argument("--batch-size", type=int, default=100)

    def handle(self, *args: Any, **options: Any) -> None:
        client = redis_client()
        if options["once"]:
            published, failed = relay_publish_pending(client=client, batch_size=options["batch_size"])
            self.stdout.write(f"published {published} events")
            if failed:
                raise CommandError(f"{failed} outbox(es) could not be drained; see the log")
            return
        stop: threading.Event = stop_on_signals()
        self.stdout.write("outbox relay running")
        relay_run(client=client, stop=stop, interval=options["interval"], batch_size=options["batch_size"])
