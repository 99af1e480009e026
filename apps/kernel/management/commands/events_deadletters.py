"""List parked (dead-letter) events, or put them back on their streams once the cause is fixed."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from apps.kernel.consumers import dead_letter_list, dead_letter_replay, registered_consumers
from apps.kernel.envelope import EnvelopeError
from apps.kernel.streams import redis_client


class Command(BaseCommand):
    help = "Inspect and replay the dead-letter stream."

    def add_arguments(self, parser: CommandParser) -> None:
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list")
        listing.add_argument("--limit", type=int, default=100)
        replay = sub.add_parser("replay")
        replay.add_argument("ids", nargs="*", help="dead-letter ids to replay")
        replay.add_argument("--all", action="store_true", help="replay every parked message")

    def handle(self, *args: Any, **options: Any) -> None:
        client = redis_client()
        if options["action"] == "list":
            entries = dead_letter_list(client=client, count=options["limit"])
            for dead_id, fields in entries:
                self.stdout.write(
                    f"{dead_id}  {fields['consumer']}  {fields['stream']}  deliveries={fields['deliveries']}  "
                    f"error={fields['error']}"
                )
            self.stdout.write(f"{len(entries)} dead letters")
            return
        ids = (
            [dead_id for dead_id, _ in dead_letter_list(client=client, count=10_000)]
            if options["all"]
            else options["ids"]
        )
        if not ids:
            raise CommandError("name the dead-letter ids to replay, or pass --all")
        consumers = registered_consumers()
        failures = 0
        for dead_id in ids:
            try:
                envelope = dead_letter_replay(client=client, dead_id=dead_id, consumers=consumers)
            except (KeyError, EnvelopeError) as exc:
                failures += 1
                self.stderr.write(f"kept {dead_id}: {exc}")
            except Exception as exc:
                failures += 1
                self.stderr.write(f"kept {dead_id}: the consumer failed again: {type(exc).__name__}: {exc}")
            else:
                self.stdout.write(f"replayed {dead_id} (event {envelope.id})")
        if failures:
            raise CommandError(f"{failures} of {len(ids)} dead letters could not be replayed and stay parked")
