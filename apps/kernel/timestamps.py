"""The one timestamp form of the API (API_CONTRACT.md: ISO-8601 UTC): as DRF renders a DateTimeField, with `Z`."""

from __future__ import annotations

from datetime import datetime

from rest_framework.fields import DateTimeField

_FIELD = DateTimeField()


def timestamp(value: datetime | None) -> str | None:
    """For bodies built by hand; serializers' DateTimeFields already render this way."""
    return None if value is None else str(_FIELD.to_representation(value))
