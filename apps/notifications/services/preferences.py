"""Writes of the notifications context on preferences: a user's channels per type, digest and quiet hours."""

from __future__ import annotations

from datetime import time
from functools import partial
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.notifications.models import DB, Notification, NotificationPreference, default_channels
from apps.notifications.services.emails import emails_prepare_queue


def preference_update(*, user_id: int, changes: dict[str, Any]) -> NotificationPreference:
    """Apply validated changes: `channels` ({type: {channel: bool}}, merged into the current switches), `digest`,
    `quiet_hours` ((start, end) or None to turn them off).

    E-mail already waiting is planned again under the new settings: a user who moves from a daily digest to
    immediate e-mail gets what was waiting now, not tomorrow morning.
    """
    with transaction.atomic(using=DB):
        preference, _ = NotificationPreference.objects.using(DB).select_for_update().get_or_create(user_id=user_id)
        if "channels" in changes:
            channels = default_channels()
            for kind, switches in channels.items():
                switches.update(preference.channels.get(kind, {}))
                switches.update(changes["channels"].get(kind, {}))
            preference.channels = channels
        if "digest" in changes:
            preference.digest = changes["digest"]
        if "quiet_hours" in changes:
            window: tuple[time, time] | None = changes["quiet_hours"]
            preference.quiet_hours_start, preference.quiet_hours_end = window or (None, None)
        preference.updated_at = timezone.now()
        preference.save(using=DB)
        replanned = (
            Notification.objects.using(DB)
            .filter(user_id=user_id, email_wanted=True, email_delivery__isnull=True)
            .update(email_due_at=None)
        )
        if replanned:
            transaction.on_commit(partial(emails_prepare_queue, [user_id]), using=DB, robust=True)
    return preference
