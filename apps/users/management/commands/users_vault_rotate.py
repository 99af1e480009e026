"""Re-encrypt every stored service credential under the current (first) key of USERS_VAULT_KEYS.

Rotating a key: put the new key first in USERS_VAULT_KEYS, keep the old ones after it, restart, run this
command, then drop the old keys. Rows already under the current key are left alone, so running it again is
harmless and cheap. Rows are locked and rewritten in batches, one transaction each, together with their audit
events. A row no configured key opens is left untouched and named by id at the end (non-zero exit).
"""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from apps.users.events import ClientInfo, user_action_record
from apps.users.models import DB, ServiceCredential
from apps.users.vault import VaultDecryptError, vault_is_current, vault_reencrypt

FAILED_IDS_SHOWN = 20


class Command(BaseCommand):
    help = "Re-encrypt every stored service credential under the first key of USERS_VAULT_KEYS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--batch-size", type=int, default=200, help="rows locked and rewritten per transaction")

    def handle(self, *args: Any, **options: Any) -> None:
        batch_size: int = options["batch_size"]
        if batch_size < 1:
            raise CommandError("--batch-size must be at least 1")
        reencrypted = current = 0
        failed: list[int] = []
        last_pk = 0
        while True:
            with transaction.atomic(using=DB):
                rows = list(
                    ServiceCredential.objects.using(DB)
                    .select_for_update()
                    .filter(pk__gt=last_pk)
                    .order_by("pk")
                    .only("pk", "service_id", "ciphertext")[:batch_size]
                )
                for row in rows:
                    if vault_is_current(row.ciphertext):
                        current += 1
                        continue
                    try:
                        ciphertext = vault_reencrypt(row.ciphertext)
                    except VaultDecryptError:
                        failed.append(row.pk)
                        continue
                    ServiceCredential.objects.using(DB).filter(pk=row.pk).update(ciphertext=ciphertext)
                    user_action_record(
                        action="credential_reencrypted",
                        actor_id=None,
                        client=ClientInfo(),
                        resource_type="credential",
                        resource_id=row.pk,
                        details={"service_id": row.service_id},
                    )
                    reencrypted += 1
            if not rows:
                break
            last_pk = rows[-1].pk
        self.stdout.write(f"re-encrypted {reencrypted} credential(s) under the current key; {current} already were")
        if failed:
            shown = ", ".join(str(pk) for pk in failed[:FAILED_IDS_SHOWN])
            more = f" and {len(failed) - FAILED_IDS_SHOWN} more" if len(failed) > FAILED_IDS_SHOWN else ""
            raise CommandError(
                f"{len(failed)} credential(s) could not be decrypted with any key in USERS_VAULT_KEYS and were left "
                f"unchanged (ids {shown}{more}). List the key they were encrypted with after the current one and run "
                "again, or delete them so their owners set new tokens."
            )
