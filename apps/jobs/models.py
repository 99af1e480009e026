"""Persistent state of the jobs context (its own database alias)."""

from apps.kernel.outbox import InboxEntryBase, OutboxEventBase


class OutboxEvent(OutboxEventBase):
    """Events of this context waiting for the relay, written in the same transaction as the change."""


class InboxEntry(InboxEntryBase):
    """Events this context's consumers have applied, so each effect happens once."""
