"""Run the registered event consumers (all, or the ones named) over their Redis consumer groups."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.kernel.consumers import ConsumerRunner, registered_consumers
from apps.kernel.management.commands._signals import stop_on_signals
from apps.kernel.streams import redis_client


class Command(BaseCommand):
    help = "Consume events until stopped; each effect is applied once thanks to the consumer's inbox."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--consumer", action="append", default=[], help="consumer name (repeatable)")
        parser.add_argument("--once", action="store_true", help="handle what is waiting, then exit")
        parser.add_argument("--max-deliveries", type=int, default=5)
        parser.add_argument("--reclaim-idle-ms", type=int, default=30_000)

    def handle(self, *args: Any, **options: Any) -> None:
        known = {c.name: c for c in registered_consumers()}
        unknown = sorted(set(options["consumer"]) - set(known))
        if unknown:
            raise CommandError(f"unknown consumers {unknown}; registered: {sorted(known) or 'none'}")
        chosen = [known[name] for name in options["consumer"]] or list(known.values())
        runner = ConsumerRunner(
            chosen,
            client=redis_client(),
            max_deliveries=options["max_deliveries"],
            reclaim_idle_ms=options["reclaim_idle_ms"],
        )
        self.stdout.write(f"consumers: {', '.join(c.name for c in chosen) or 'none registered yet'}")
        if options["once"]:
            runner.ensure_groups()
            self.stdout.write(f"handled {runner.run_once()} messages")
            return
        runner.run_forever(stop_on_signals())
