"""When an e-mail may go out: digest boundaries and quiet hours, on the wall clock of the user's time zone.

Pure functions of aware datetimes; results are in UTC. A quiet window whose end falls into a daylight-saving
gap ends at the same wall time as zoneinfo reads it (the hour after the gap), never earlier.
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from apps.notifications.models import Digest


def zone_of(name: str) -> ZoneInfo:
    """The user's time zone; an unknown name (the users context only stores valid ones) reads as UTC."""
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def _at(day: date, clock: time, zone: ZoneInfo) -> datetime:
    return datetime.combine(day, clock, tzinfo=zone).astimezone(UTC)


def digest_due(*, created_at: datetime, digest: str, zone: ZoneInfo, daily_hour: int) -> datetime:
    """When the e-mail about a notification created at `created_at` is due: at once, at the next full hour, or at
    the next `daily_hour`:00, local time."""
    if digest == Digest.HOURLY:
        local = created_at.astimezone(zone)
        return _at(local.date(), time(local.hour), zone) + timedelta(hours=1)
    if digest == Digest.DAILY:
        local = created_at.astimezone(zone)
        today = _at(local.date(), time(daily_hour), zone)
        return today if today > created_at else _at(local.date() + timedelta(days=1), time(daily_hour), zone)
    return created_at


def quiet_until(*, now: datetime, zone: ZoneInfo, start: time | None, end: time | None) -> datetime | None:
    """The end of the quiet window `now` falls in, or None when e-mail may go out now.

    The window runs from `start` (included) to `end` (excluded) and wraps midnight when `start` is later than
    `end`; equal times mean no quiet hours.
    """
    if start is None or end is None or start == end:
        return None
    local = now.astimezone(zone)
    clock = local.time().replace(tzinfo=None)
    if start < end:
        return _at(local.date(), end, zone) if start <= clock < end else None
    if clock >= start:
        return _at(local.date() + timedelta(days=1), end, zone)
    if clock < end:
        return _at(local.date(), end, zone)
    return None
