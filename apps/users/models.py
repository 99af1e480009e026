"""Persistent state of the users context (its own database alias)."""

from django.contrib.auth.models import AbstractUser

from apps.kernel.outbox import InboxEntryBase, OutboxEventBase


class OutboxEvent(OutboxEventBase):
    """Events of this context waiting for the relay, written in the same transaction as the change."""


class InboxEntry(InboxEntryBase):
    """Events this context's consumers have applied, so each effect happens once."""


class User(AbstractUser):
    """The platform's account; custom from the first migration so the users context can grow it freely."""
