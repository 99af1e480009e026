"""The audit log: user.action.logged events recorded once each, browsed through GET /api/audit-logs/ by those who
may, and never changed or removed afterwards (by the ORM or by raw SQL)."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
import redis
from django.contrib.admin import site
from django.db import DatabaseError, connections, transaction
from django.test import Client

from apps.kernel.consumers import Consumer, ConsumerRunner, dead_letter_list, registered_consumers
from apps.kernel.envelope import EnvelopeError
from apps.kernel.relay import relay_publish_outbox
from apps.kernel.timestamps import timestamp
from apps.users.consumers import audit_log_record
from apps.users.models import AppendOnlyError, AuditLogEntry, InboxEntry, OutboxEvent, User
from apps.users.services.audit import audit_entry_record
from apps.users.tests.audit_support import DROP, envelope_make
from apps.users.tests.factories import bearer, login, user_make

pytestmark = [pytest.mark.redis, pytest.mark.django_db(databases=["users"])]
committed = pytest.mark.django_db(databases=["users"], transaction=True)

URL = "/api/audit-logs/"
JAN_1 = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)
JAN_15 = datetime(2026, 1, 15, 12, 30, tzinfo=UTC)
FEB_1 = datetime(2026, 2, 1, 0, 0, tzinfo=UTC)


def _audit_consumer() -> Consumer:
    """The consumer as the kernel registered it from apps/users/consumers.py at start-up."""
    [found] = [c for c in registered_consumers() if c.name == "users.audit_log"]
    return found


def _admin_get(params: dict[str, Any] | None = None, *, role: str = "admin") -> Any:
    viewer = user_make(role=role)
    access = login(Client(), viewer.username).json()["access"]
    return Client().get(URL, params or {}, headers=bearer(access))


def _record(**fields: Any) -> AuditLogEntry:
    entry = audit_entry_record(envelope=envelope_make(**fields))
    assert entry is not None
    return entry


def _actions(body: dict[str, Any]) -> list[str]:
    return [entry["action"] for entry in body["results"]]


# --- recording events ----------------------------------------------------------------------------------------


def test_an_event_becomes_an_entry_with_everything_it_carried() -> None:
    envelope = envelope_make(
        source="jobs",
        request_id="req-submit-0042",
        occurred_at=JAN_15,
        actor_id=42,
        action="job_submit",
        resource_type="job",
        resource_id="9001",
        ip="198.51.100.7",
        user_agent="fip-cli/2.1",
        details={"service_id": 3, "files": 22},
    )

    entry = audit_entry_record(envelope=envelope)

    assert entry is not None
    stored = AuditLogEntry.objects.values().get()
    assert stored == {
        "id": entry.pk,
        "event_id": envelope.id,
        "occurred_at": JAN_15,
        "recorded_at": stored["recorded_at"],
        "source": "jobs",
        "actor_id": 42,
        "action": "job_submit",
        "resource_type": "job",
        "resource_id": "9001",
        "ip": "198.51.100.7",
        "user_agent": "fip-cli/2.1",
        "request_id": "req-submit-0042",
        "details": {"service_id": 3, "files": 22},
    }
    assert stored["recorded_at"] >= JAN_15


def test_the_same_event_handled_twice_by_the_consumer_leaves_one_entry() -> None:
    envelope = envelope_make()

    audit_log_record(envelope)
    audit_log_record(envelope)

    assert AuditLogEntry.objects.filter(event_id=envelope.id).count() == 1
    assert AuditLogEntry.objects.count() == 1
    assert audit_entry_record(envelope=envelope) is None  # the service itself says it wrote nothing


def test_an_event_with_only_an_action_is_recorded_with_empty_optional_fields() -> None:
    envelope = envelope_make(
        request_id=None,
        actor_id=DROP,
        resource_type=DROP,
        resource_id=DROP,
        ip=DROP,
        user_agent=DROP,
        details=DROP,
        action="service_health_changed",
    )

    entry = audit_entry_record(envelope=envelope)

    assert entry is not None
    assert envelope.payload == {"action": "service_health_changed"}
    assert (entry.actor_id, entry.resource_type, entry.resource_id, entry.ip, entry.user_agent) == (
        None,
        "",
        "",
        None,
        "",
    )
    assert (entry.request_id, entry.details) == ("", {})


def test_explicit_nulls_are_recorded_like_missing_fields() -> None:
    entry = _record(actor_id=None, resource_type=None, resource_id=None, ip=None, user_agent=None, details=None)

    assert (entry.actor_id, entry.resource_type, entry.resource_id, entry.ip, entry.user_agent, entry.details) == (
        None,
        "",
        "",
        None,
        "",
        {},
    )


@pytest.mark.parametrize(
    ("raw", "stored"),
    [
        ("203.0.113.9", "203.0.113.9"),
        ("2001:DB8:0:0:0:0:0:1", "2001:db8::1"),
        ("fe80::1%eth0", "fe80::1"),
        (" 203.0.113.9 ", "203.0.113.9"),
    ],
)
def test_addresses_are_stored_normalised(raw: str, stored: str) -> None:
    entry = _record(ip=raw)

    assert AuditLogEntry.objects.get(pk=entry.pk).ip == stored
    assert entry.details == {}


@pytest.mark.parametrize("raw", ["999.1.1.1", "not-an-address", 3232235777, ["10.0.0.1"]])
def test_an_unparseable_address_is_stored_as_null_and_noted_without_losing_the_entry(raw: Any) -> None:
    entry = _record(ip=raw, details={"reason": "kept"})

    stored = AuditLogEntry.objects.get(pk=entry.pk)
    assert stored.ip is None
    assert stored.details == {"reason": "kept", "_recorder": {"invalid_ip": str(raw)}}
    assert stored.action == "login"


@pytest.mark.parametrize(
    ("raw", "stored", "note"),
    [
        (42, 42, None),
        ("42", 42, None),
        (42.0, 42, None),
        ("", None, None),
        ("admin", None, "admin"),
        (True, None, "True"),
        (4.5, None, "4.5"),
        (2**64, None, str(2**64)),
    ],
)
def test_actor_ids_are_taken_as_integers_or_noted(raw: Any, stored: int | None, note: str | None) -> None:
    entry = _record(actor_id=raw)

    assert AuditLogEntry.objects.get(pk=entry.pk).actor_id == stored
    assert entry.details == ({} if note is None else {"_recorder": {"invalid_actor_id": note}})


def test_over_long_strings_are_cut_to_their_columns_and_noted() -> None:
    entry = _record(
        source="s" * 40,
        request_id="r" * 150,
        action="a" * 80,
        resource_type="t" * 70,
        resource_id="9" * 90,
        user_agent="Mozilla/5.0 " + "x" * 400,
    )

    stored = AuditLogEntry.objects.get(pk=entry.pk)
    assert (stored.source, stored.request_id, stored.action) == ("s" * 32, "r" * 128, "a" * 64)
    assert (stored.resource_type, stored.resource_id) == ("t" * 64, "9" * 64)
    assert stored.user_agent == ("Mozilla/5.0 " + "x" * 400)[:256]
    assert stored.details == {
        "_recorder": {"truncated": ["source", "action", "resource_type", "resource_id", "user_agent", "request_id"]}
    }


def test_details_that_are_not_an_object_are_kept_under_value() -> None:
    entry = _record(details=["a", "list"])

    assert AuditLogEntry.objects.get(pk=entry.pk).details == {
        "value": ["a", "list"],
        "_recorder": {"details_not_an_object": True},
    }


@pytest.mark.parametrize("action", [DROP, None, "", "   ", 7, {"name": "login"}])
def test_an_event_without_an_action_is_malformed(action: Any) -> None:
    envelope = envelope_make(action=action)

    with pytest.raises(EnvelopeError, match="'action'"):
        audit_entry_record(envelope=envelope)

    assert not AuditLogEntry.objects.exists()


# --- through the event bus --------------------------------------------------------------------------------------


@committed
def test_an_event_delivered_twice_through_the_runner_is_recorded_once(event_bus: redis.Redis) -> None:
    consumer = _audit_consumer()
    runner = ConsumerRunner([consumer], client=event_bus)
    runner.ensure_groups()
    envelope = envelope_make(action="panel_sync")
    for _ in range(2):  # a relay that crashed after XADD publishes its batch again
        event_bus.xadd(consumer.stream, {"envelope": envelope.to_json()})

    handled = runner.run_once()

    assert handled == 2
    entry = AuditLogEntry.objects.get()
    assert (entry.event_id, entry.action) == (envelope.id, "panel_sync")
    assert list(InboxEntry.objects.values_list("consumer", "event_id")) == [("users.audit_log", envelope.id)]
    assert event_bus.xpending(consumer.stream, consumer.name)["pending"] == 0
    assert dead_letter_list(client=event_bus) == []


@committed
def test_a_malformed_event_is_dead_lettered_at_once_and_records_nothing(event_bus: redis.Redis) -> None:
    consumer = _audit_consumer()
    runner = ConsumerRunner([consumer], client=event_bus, reclaim_idle_ms=0, max_deliveries=5)
    runner.ensure_groups()
    envelope = envelope_make(action=DROP)
    event_bus.xadd(consumer.stream, {"envelope": envelope.to_json()})

    runner.run_once()

    [(_, letter)] = dead_letter_list(client=event_bus)
    assert letter["consumer"] == "users.audit_log"
    assert letter["envelope"] == envelope.to_json()
    assert "'action'" in letter["error"]
    assert event_bus.xpending(consumer.stream, consumer.name)["pending"] == 0
    assert not AuditLogEntry.objects.exists()
    assert not InboxEntry.objects.exists()


@committed
def test_a_login_reaches_the_audit_api_with_its_address_agent_and_request_id(event_bus: redis.Redis) -> None:
    researcher = user_make(username="thandiwe")
    admin = user_make(role="admin")
    runner = ConsumerRunner([_audit_consumer()], client=event_bus)
    runner.ensure_groups()
    logged_in = login(Client(), "thandiwe", **{"User-Agent": "Mozilla/5.0 (audit end-to-end)"})
    admin_access = login(Client(), admin.username).json()["access"]

    published = relay_publish_outbox(outbox=OutboxEvent, client=event_bus)
    handled = runner.run_once()
    response = Client().get(URL, {"user": researcher.pk}, headers=bearer(admin_access))

    assert logged_in.status_code == 200
    assert (published, handled) == (2, 2)
    assert response.status_code == 200
    event = OutboxEvent.objects.get(payload__actor_id=researcher.pk)
    [entry] = response.json()["results"]
    assert entry == {
        "id": entry["id"],
        "event_id": str(event.event_id),
        "occurred_at": timestamp(event.occurred_at),
        "recorded_at": entry["recorded_at"],
        "source": "users",
        "actor_id": researcher.pk,
        "action": "login",
        "resource_type": "user",
        "resource_id": str(researcher.pk),
        "ip": "127.0.0.1",
        "user_agent": "Mozilla/5.0 (audit end-to-end)",
        "request_id": logged_in.headers["X-Request-ID"],
        "details": {},
    }
    assert logged_in.headers["X-Request-ID"]  # minted by the server: the login sent none


# --- the API ----------------------------------------------------------------------------------------------------


def test_the_list_is_paginated_and_each_entry_has_every_field() -> None:
    entry = _record(occurred_at=JAN_15, actor_id=5, action="role_change", resource_id="8", details={"to": "viewer"})

    response = _admin_get()

    assert response.status_code == 200
    assert response.json() == {
        "count": 1,
        "next": None,
        "previous": None,
        "results": [
            {
                "id": entry.pk,
                "event_id": str(entry.event_id),
                "occurred_at": "2026-01-15T12:30:00Z",
                "recorded_at": timestamp(entry.recorded_at),
                "source": "users",
                "actor_id": 5,
                "action": "role_change",
                "resource_type": "user",
                "resource_id": "8",
                "ip": "192.0.2.10",
                "user_agent": "pytest-agent/1.0",
                "request_id": "req-audit-test-1",
                "details": {"to": "viewer"},
            }
        ],
    }


def test_entries_come_newest_first_and_in_pages() -> None:
    _record(occurred_at=JAN_1, action="first")
    _record(occurred_at=FEB_1, action="third")
    _record(occurred_at=JAN_15, action="second")

    first_page = _admin_get({"page_size": 2}).json()
    second_page = _admin_get({"page_size": 2, "page": 2}).json()

    assert first_page["count"] == 3
    assert _actions(first_page) == ["third", "second"]
    assert _actions(second_page) == ["first"]


def test_filters_by_actor_action_and_resource() -> None:
    _record(actor_id=1, action="login", resource_type="user", resource_id="1")
    _record(actor_id=1, action="job_submit", resource_type="job", resource_id="77")
    _record(actor_id=2, action="job_submit", resource_type="job", resource_id="78")

    by_user = _admin_get({"user": 1}).json()
    by_action = _admin_get({"action": "job_submit"}).json()
    by_resource = _admin_get({"resource_type": "job", "resource_id": "78"}).json()
    combined = _admin_get({"user": 1, "action": "job_submit"}).json()

    assert sorted(e["action"] for e in by_user["results"]) == ["job_submit", "login"]
    assert sorted(e["actor_id"] for e in by_action["results"]) == [1, 2]
    assert [(e["actor_id"], e["resource_id"]) for e in by_resource["results"]] == [(2, "78")]
    assert [(e["actor_id"], e["action"]) for e in combined["results"]] == [(1, "job_submit")]


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"start": "2026-01-15T12:30:00Z"}, ["third", "second"]),  # start is inclusive
        ({"end": "2026-01-15T12:30:00Z"}, ["second", "first"]),  # so is end
        ({"start": "2026-01-02", "end": "2026-01-31"}, ["second"]),
        ({"end": "2026-01-01"}, ["first"]),  # a bare date as the end covers that whole day
        ({"start": "2026-01-15T14:30:00+02:00", "end": "2026-01-15T12:30:00"}, ["second"]),  # no offset: UTC
        ({"start": "", "action": ""}, ["third", "second", "first"]),  # empty parameters filter nothing
    ],
)
def test_filters_by_time(params: dict[str, str], expected: list[str]) -> None:
    _record(occurred_at=JAN_1, action="first")
    _record(occurred_at=JAN_15, action="second")
    _record(occurred_at=FEB_1, action="third")

    response = _admin_get(params)

    assert response.status_code == 200
    assert _actions(response.json()) == expected


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"start": "yesterday"}, "start"),
        ({"end": "2026-13-01"}, "end"),
        ({"start": "2026-01-15T14:30:00 02:00"}, "start"),  # an unencoded '+' arrives as a space
        ({"user": "ada"}, "user"),
        ({"user": "0"}, "user"),
        ({"user": str(2**63)}, "user"),
        ({"start": "2026-02-01", "end": "2026-01-01"}, "end"),
    ],
)
def test_a_bad_filter_is_a_validation_error_naming_the_parameter(params: dict[str, str], field: str) -> None:
    response = _admin_get(params)

    assert response.status_code == 400
    body = response.json()
    assert body["error"]["code"] == "VALIDATION_ERROR"
    assert body["error"]["message"] == f"Invalid query parameter: {field}."
    assert list(body["error"]["details"]) == [field]
    assert body["request_id"] == response.headers["X-Request-ID"]


@pytest.mark.parametrize("role", ["service_admin", "researcher", "service_user", "viewer"])
def test_callers_without_the_view_audit_log_capability_are_refused(role: str) -> None:
    _record()

    response = _admin_get(role=role)

    assert response.status_code == 403
    assert response.json() == {
        "error": {
            "code": "AUTHORIZATION_ERROR",
            "message": "This needs the 'view_audit_log' capability, which your role does not have.",
        },
        "request_id": response.headers["X-Request-ID"],
    }


def test_a_superuser_may_view_whatever_its_role() -> None:
    root = user_make(role="viewer", is_superuser=True)
    access = login(Client(), root.username).json()["access"]

    response = Client().get(URL, headers=bearer(access))

    assert response.status_code == 200
    assert response.json()["count"] == 0


def test_anonymous_callers_must_authenticate() -> None:
    response = Client().get(URL)

    assert response.status_code == 401
    body = response.json()
    assert body["error"]["code"] == "AUTHENTICATION_ERROR"
    assert body["request_id"] == response.headers["X-Request-ID"]


@pytest.mark.parametrize("method", ["post", "put", "patch", "delete"])
def test_the_audit_log_cannot_be_written_through_the_api(method: str) -> None:
    entry = _record()
    admin = user_make(role="admin")
    access = login(Client(), admin.username).json()["access"]

    response = getattr(Client(), method)(URL, {}, content_type="application/json", headers=bearer(access))

    assert response.status_code == 405
    assert response.json()["error"]["code"] == "METHOD_NOT_ALLOWED"
    assert list(AuditLogEntry.objects.values_list("pk", flat=True)) == [entry.pk]


# --- append-only ------------------------------------------------------------------------------------------------


@committed
def test_entries_cannot_be_changed_or_deleted_through_the_orm() -> None:
    entry = _record(action="login")

    entry.action = "nothing_happened"
    with pytest.raises(AppendOnlyError):
        entry.save()
    with pytest.raises(AppendOnlyError):
        entry.delete()
    with pytest.raises(AppendOnlyError):
        AuditLogEntry.objects.filter(pk=entry.pk).update(action="nothing_happened")
    with pytest.raises(AppendOnlyError):
        AuditLogEntry.objects.all().delete()

    assert list(AuditLogEntry.objects.values_list("action", flat=True)) == ["login"]


@committed
@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE users_auditlogentry SET action = 'nothing_happened'",
        "UPDATE users_auditlogentry SET request_id = 'forged' WHERE id = {pk}",
        # SQLite keeps no DELETE trigger (its flush, which tests need, is a DELETE); PostgreSQL refuses both
        pytest.param("DELETE FROM users_auditlogentry WHERE id = {pk}", marks=pytest.mark.postgres),
        pytest.param("DELETE FROM users_auditlogentry", marks=pytest.mark.postgres),
    ],
)
def test_the_database_refuses_raw_updates_and_deletes(statement: str) -> None:
    entry = _record(action="login", details={"kept": True})

    raw = connections["users"]
    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic(using="users"), raw.cursor() as cursor:
        cursor.execute(statement.format(pk=entry.pk))

    stored = AuditLogEntry.objects.get()
    assert (stored.pk, stored.action, stored.request_id, stored.details) == (
        entry.pk,
        "login",
        "req-audit-test-1",
        {"kept": True},
    )


@committed
def test_new_entries_can_still_be_added_and_an_actor_deleted() -> None:
    actor = user_make()
    _record(actor_id=actor.pk, action="login")

    User.objects.filter(pk=actor.pk).delete()
    _record(actor_id=None, action="user_delete", resource_id=str(actor.pk))

    assert not User.objects.filter(pk=actor.pk).exists()
    assert sorted(AuditLogEntry.objects.values_list("action", "actor_id")) == [
        ("login", actor.pk),
        ("user_delete", None),
    ]


def test_the_admin_shows_entries_but_offers_no_add_change_or_delete(settings: Any) -> None:
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},  # no collectstatic here
    }
    entry = _record()
    admin_user = user_make(role="admin", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin_user)
    model_admin = site._registry[AuditLogEntry]

    listing = client.get("/admin/users/auditlogentry/", {"q": "login"})
    detail = client.get(f"/admin/users/auditlogentry/{entry.pk}/change/")
    edit = client.post(f"/admin/users/auditlogentry/{entry.pk}/change/", {"action": "nothing_happened"})
    add = client.get("/admin/users/auditlogentry/add/")
    delete = client.post(f"/admin/users/auditlogentry/{entry.pk}/delete/", {"post": "yes"})

    assert listing.status_code == 200
    assert b"192.0.2.10" in listing.content and b"/admin/users/auditlogentry/add/" not in listing.content
    assert detail.status_code == 200
    assert (edit.status_code, add.status_code, delete.status_code) == (403, 403, 403)
    assert AuditLogEntry.objects.get().action == "login"
    request = listing.wsgi_request
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request, entry)
    assert not model_admin.has_delete_permission(request, entry)
    assert model_admin.has_view_permission(request, entry)


def test_an_event_id_is_unique_across_sources() -> None:
    event_id = uuid.uuid4()
    _record(event_id=event_id, source="jobs")

    again = audit_entry_record(envelope=envelope_make(event_id=event_id, source="registry", action="other"))

    assert again is None
    assert list(AuditLogEntry.objects.values_list("source", "action")) == [("jobs", "login")]
