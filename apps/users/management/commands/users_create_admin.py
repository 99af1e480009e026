"""Create or update the first admin from ADMIN_USERNAME, ADMIN_EMAIL and ADMIN_PASSWORD, non-interactively.

Idempotent: running it again with the same values changes nothing. A password the validators refuse stops it
with their messages; the password itself is never printed.
"""

from __future__ import annotations

import os
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from apps.kernel.errors import ApplicationError
from apps.users.services.accounts import admin_ensure

VARIABLES = ("ADMIN_USERNAME", "ADMIN_EMAIL", "ADMIN_PASSWORD")


class Command(BaseCommand):
    help = "Create or update the first admin account from ADMIN_USERNAME, ADMIN_EMAIL and ADMIN_PASSWORD."

    def handle(self, *args: Any, **options: Any) -> None:
        values = {name: os.environ.get(name, "") for name in VARIABLES}
        missing = [name for name, value in values.items() if not value]
        if missing:
            raise CommandError(f"set {', '.join(missing)} in the environment")
        try:
            result = admin_ensure(
                username=values["ADMIN_USERNAME"], email=values["ADMIN_EMAIL"], password=values["ADMIN_PASSWORD"]
            )
        except ApplicationError as exc:
            problems = [message for messages in (exc.details or {}).values() for message in messages]
            reason = f"{exc.message.rstrip('.')}: {' '.join(problems)}" if problems else exc.message
            raise CommandError(reason) from exc
        name = result.user.username
        if result.created:
            self.stdout.write(f"admin {name!r} created")
        elif result.changed:
            self.stdout.write(f"admin {name!r} updated: {', '.join(result.changed)}")
        else:
            self.stdout.write(f"admin {name!r} already up to date")
