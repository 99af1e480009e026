"""Event consumers of the users context; the kernel imports this module at start-up to register them."""

from __future__ import annotations

from apps.kernel.consumers import consumer
from apps.kernel.envelope import USER_ACTION_LOGGED, Envelope
from apps.users.models import InboxEntry
from apps.users.services.audit import audit_entry_record


@consumer(name="users.audit_log", topic=USER_ACTION_LOGGED, inbox=InboxEntry)
def audit_log_record(envelope: Envelope) -> None:
    """Every context's audited actions land in the one audit log, which the users context keeps."""
    audit_entry_record(envelope=envelope)
