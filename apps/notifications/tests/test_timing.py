"""Digest boundaries and quiet hours on the user's wall clock (pure functions, no database)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from zoneinfo import ZoneInfo

import pytest

from apps.notifications.timing import digest_due, quiet_until, zone_of

NAIROBI = zone_of("Africa/Nairobi")  # UTC+3, no daylight saving
KOLKATA = zone_of("Asia/Kolkata")  # UTC+5:30: local full hours are half past in UTC
BERLIN = zone_of("Europe/Berlin")


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, tzinfo=UTC)


def test_immediate_is_due_when_made() -> None:
    assert digest_due(created_at=utc(2026, 3, 2, 9, 17), digest="immediate", zone=NAIROBI, daily_hour=8) == utc(
        2026, 3, 2, 9, 17
    )


@pytest.mark.parametrize(
    ("created", "zone", "due"),
    [
        (utc(2026, 3, 2, 9, 17), NAIROBI, utc(2026, 3, 2, 10, 0)),
        (utc(2026, 3, 2, 9, 0), NAIROBI, utc(2026, 3, 2, 10, 0)),
        (utc(2026, 3, 2, 9, 17), KOLKATA, utc(2026, 3, 2, 9, 30)),
        (utc(2026, 3, 2, 9, 45), KOLKATA, utc(2026, 3, 2, 10, 30)),
    ],
)
def test_hourly_is_due_at_the_next_local_full_hour(created: datetime, zone: ZoneInfo, due: datetime) -> None:
    assert digest_due(created_at=created, digest="hourly", zone=zone, daily_hour=8) == due


@pytest.mark.parametrize(
    ("created", "due"),
    [
        (utc(2026, 3, 2, 4, 59), utc(2026, 3, 2, 5, 0)),  # 07:59 in Nairobi: today at 08:00
        (utc(2026, 3, 2, 5, 0), utc(2026, 3, 3, 5, 0)),  # 08:00 sharp: tomorrow's digest
        (utc(2026, 3, 2, 22, 30), utc(2026, 3, 3, 5, 0)),  # 01:30 the next local day: that day at 08:00
    ],
)
def test_daily_is_due_at_the_next_local_digest_hour(created: datetime, due: datetime) -> None:
    assert digest_due(created_at=created, digest="daily", zone=NAIROBI, daily_hour=8) == due


def test_daily_follows_daylight_saving() -> None:
    winter = digest_due(created_at=utc(2026, 3, 28, 12, 0), digest="daily", zone=BERLIN, daily_hour=8)
    summer = digest_due(created_at=utc(2026, 3, 29, 12, 0), digest="daily", zone=BERLIN, daily_hour=8)

    assert (winter, summer) == (utc(2026, 3, 29, 6, 0), utc(2026, 3, 30, 6, 0))


@pytest.mark.parametrize(
    ("now", "until"),
    [
        (utc(2026, 3, 2, 18, 59), None),  # 21:59 local
        (utc(2026, 3, 2, 19, 0), utc(2026, 3, 3, 4, 0)),  # 22:00 local: quiet until 07:00 tomorrow
        (utc(2026, 3, 2, 23, 30), utc(2026, 3, 3, 4, 0)),  # 02:30 local, after midnight: until 07:00 today
        (utc(2026, 3, 3, 4, 0), None),  # 07:00 local: the window is over
    ],
)
def test_a_quiet_window_may_wrap_midnight(now: datetime, until: datetime | None) -> None:
    assert quiet_until(now=now, zone=NAIROBI, start=time(22, 0), end=time(7, 0)) == until


def test_a_daytime_quiet_window_and_no_window() -> None:
    lunch, after = time(12, 0), time(13, 0)

    assert quiet_until(now=utc(2026, 3, 2, 9, 30), zone=NAIROBI, start=lunch, end=after) == utc(2026, 3, 2, 10, 0)
    assert quiet_until(now=utc(2026, 3, 2, 10, 0), zone=NAIROBI, start=lunch, end=after) is None
    assert quiet_until(now=utc(2026, 3, 2, 9, 30), zone=NAIROBI, start=None, end=None) is None
    assert quiet_until(now=utc(2026, 3, 2, 9, 30), zone=NAIROBI, start=time(9), end=time(9)) is None


def test_an_unknown_zone_reads_as_utc() -> None:
    assert zone_of("Mars/Olympus_Mons") == zone_of("UTC")
