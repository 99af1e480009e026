"""An API token of the node for one user (created if new), as Cloudgene's profile page would issue it.

The token goes under Settings -> service credentials of the platform, for the node's services. A new token
replaces the user's previous one (one active token per user).
"""

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from apps.node.models import NodeUser
from apps.node.tokens import token_create


class Command(BaseCommand):
    help = "Print a new API token of the reference node for USERNAME (the user is created if new)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("username")
        parser.add_argument("--days", type=int, default=None, help="lifetime in days (-1: never expires)")

    def handle(self, *args: Any, **options: Any) -> None:
        user, _ = NodeUser.objects.get_or_create(username=options["username"])
        self.stdout.write(token_create(user, days=options["days"]))
