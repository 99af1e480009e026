"""The event envelope: what goes onto the bus comes back identical, and anything else is refused by name."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime, timedelta, timezone

import pytest

from apps.kernel.envelope import JOB_STATUS_UPDATED, TOPICS, Envelope, EnvelopeError


def _envelope(**overrides: object) -> Envelope:
    fields: dict = {
        "type": JOB_STATUS_UPDATED,
        "source": "jobs",
        "aggregate_id": "42",
        "payload": {"status": "running", "progress": 40, "stage": None},
        "version": 2,
        "id": uuid.UUID("0f8e2c1a-5b7d-4e3f-9a10-1c2d3e4f5a6b"),
        "occurred_at": datetime(2024, 5, 17, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2))),
        "request_id": "req-0123456789",
    }
    fields.update(overrides)
    return Envelope(**fields)


def _wire(**overrides: object) -> str:
    data = json.loads(_envelope().to_json())
    data.update(overrides)
    return json.dumps(data)


def test_json_round_trip_keeps_every_field() -> None:
    original = _envelope()

    restored = Envelope.from_json(original.to_json())

    assert restored == original
    assert restored.id == uuid.UUID("0f8e2c1a-5b7d-4e3f-9a10-1c2d3e4f5a6b")
    assert restored.occurred_at.utcoffset() == timedelta(hours=2)
    assert restored.occurred_at == datetime(2024, 5, 17, 7, 30, 15, 123456, tzinfo=UTC)
    assert restored.request_id == "req-0123456789"
    assert restored.version == 2
    assert restored.payload == {"status": "running", "progress": 40, "stage": None}


def test_wire_format_is_plain_json_with_string_id_and_iso_timestamp() -> None:
    data = json.loads(_envelope().to_json())

    assert data == {
        "aggregate_id": "42",
        "id": "0f8e2c1a-5b7d-4e3f-9a10-1c2d3e4f5a6b",
        "occurred_at": "2024-05-17T09:30:15.123456+02:00",
        "payload": {"stage": None, "status": "running", "progress": 40},
        "request_id": "req-0123456789",
        "source": "jobs",
        "type": "job.status.updated",
        "version": 2,
    }


def test_defaults_are_a_fresh_id_an_aware_now_version_1_and_no_request_id() -> None:
    before = datetime.now(UTC)

    first = Envelope(type=JOB_STATUS_UPDATED, source="jobs", aggregate_id="1", payload={})
    second = Envelope(type=JOB_STATUS_UPDATED, source="jobs", aggregate_id="1", payload={})

    assert first.id != second.id
    assert first.version == 1
    assert first.request_id is None
    assert first.occurred_at.tzinfo is not None
    assert before <= first.occurred_at <= datetime.now(UTC)
    assert Envelope.from_json(first.to_json()) == first


def test_a_round_trip_without_request_id_keeps_it_none() -> None:
    original = _envelope(request_id=None)

    assert Envelope.from_json(original.to_json()).request_id is None


def test_unknown_type_is_refused_naming_the_type_and_the_known_ones() -> None:
    with pytest.raises(EnvelopeError) as excinfo:
        _envelope(type="job.exploded")

    message = str(excinfo.value)
    assert "unknown event type 'job.exploded'" in message
    assert all(topic in message for topic in TOPICS)


@pytest.mark.parametrize("version", [0, -1])
def test_version_below_1_is_refused(version: int) -> None:
    with pytest.raises(EnvelopeError, match=rf"^event version must be >= 1, got {version}$"):
        _envelope(version=version)


def test_unknown_type_on_the_wire_is_refused_as_malformed() -> None:
    with pytest.raises(EnvelopeError, match=r"^malformed envelope: unknown event type 'job\.exploded'"):
        Envelope.from_json(_wire(type="job.exploded"))


def test_version_0_on_the_wire_is_refused() -> None:
    with pytest.raises(EnvelopeError, match=r"event version must be >= 1, got 0"):
        Envelope.from_json(_wire(version=0))


@pytest.mark.parametrize("raw", ["{not json", "", "null", "[]", '"a string"', "42"])
def test_input_that_is_not_a_json_object_is_refused(raw: str) -> None:
    with pytest.raises(EnvelopeError, match=r"^malformed envelope: "):
        Envelope.from_json(raw)


@pytest.mark.parametrize("key", ["id", "type", "version", "occurred_at", "source", "aggregate_id", "payload"])
def test_a_missing_required_key_is_refused_naming_it(key: str) -> None:
    data = json.loads(_envelope().to_json())
    del data[key]

    with pytest.raises(EnvelopeError, match=rf"^malformed envelope: '{key}'$"):
        Envelope.from_json(json.dumps(data))


@pytest.mark.parametrize(
    "overrides",
    [
        {"id": "not-a-uuid"},
        {"version": "two"},
        {"occurred_at": "yesterday"},
        {"occurred_at": "2024-05-17T09:30:15"},
        {"payload": "not an object"},
        {"payload": 5},
    ],
    ids=["id", "version", "occurred_at", "occurred_at-without-zone", "payload-string", "payload-number"],
)
def test_fields_of_the_wrong_shape_are_refused(overrides: dict) -> None:
    with pytest.raises(EnvelopeError, match=r"^malformed envelope: "):
        Envelope.from_json(_wire(**overrides))
