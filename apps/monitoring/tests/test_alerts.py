"""Alert rules evaluated into deduplicated alerts, the operators' `notification.send` notices in the outbox,
automatic and manual resolution, and the alerts API (list, acknowledge, resolve)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.kernel.envelope import NOTIFICATION_SEND
from apps.monitoring.models import Alert, HealthSnapshot, OutboxEvent
from apps.monitoring.selectors.health import CRITICAL, DEGRADED, DOWN, OK, Component
from apps.monitoring.services.evaluation import Evaluation, monitoring_evaluate
from apps.monitoring.tests.factories import OPERATOR, RegistryStub, UsersStub, call, job_make, service_make

pytestmark = pytest.mark.django_db(databases=["monitoring"])

FLOWING: dict[str, Any] = {
    "outboxes": {"jobs": {"pending": 0, "oldest_seconds": None}},
    "consumers": {},
    "dead_letters": 0,
}
SERVED: dict[str, Any] = {"workers": ["w1@host"], "queues": {"w1@host": ["celery"]}, "unserved": []}


def _probes(
    events: dict[str, Any] | None = None, workers: dict[str, Any] | None = None
) -> dict[str, Callable[[], Component]]:
    """What the evaluation sees of the platform, as each probe would have reported it."""
    events = FLOWING if events is None else events
    workers = SERVED if workers is None else workers
    return {
        "database.monitoring": lambda: Component("database.monitoring", OK, CRITICAL, "sqlite"),
        "events": lambda: Component("events", OK if events is FLOWING else DEGRADED, DEGRADED, "", events),
        "workers": lambda: Component("workers", DOWN if workers.get("unserved") else OK, CRITICAL, "", workers),
    }


def _evaluate(**seen: Any) -> Evaluation:
    return monitoring_evaluate(probes=_probes(**seen))


def _open() -> list[tuple[str, str, str]]:
    return list(
        Alert.objects.using("monitoring")
        .exclude(status="resolved")
        .order_by("id")
        .values_list("fingerprint", "severity", "status")
    )


def _notices() -> list[dict[str, Any]]:
    return [
        row.payload for row in OutboxEvent.objects.using("monitoring").filter(topic=NOTIFICATION_SEND).order_by("seq")
    ]


@pytest.fixture
def operators(users: UsersStub) -> list[int]:
    users.add(1, OPERATOR)
    users.add(2, OPERATOR)
    users.add(7)  # a researcher: never alerted
    return [1, 2]


def test_a_service_down_for_long_enough_raises_one_alert_and_tells_the_operators_once(operators: list[int]) -> None:
    service_make(4, "unhealthy", since=timezone.now() - timedelta(minutes=11))

    first = _evaluate()
    second = _evaluate()

    [alert] = Alert.objects.using("monitoring").all()
    assert (alert.rule, alert.fingerprint, alert.severity, alert.status) == (
        "service_down",
        "service_down:service:4",
        "warning",
        "firing",
    )
    assert alert.title == "Service 4 has been down for over 10 min"
    assert [a.pk for a in first.changes.opened] == [alert.pk] and second.changes.opened == []
    assert _notices() == [
        {
            "user_ids": operators,
            "type": "system",
            "title": "Service 4 has been down for over 10 min",
            "message": alert.message,
            "data": {
                "alert_id": alert.pk,
                "rule": "service_down",
                "fingerprint": "service_down:service:4",
                "severity": "warning",
                "status": "firing",
            },
            "priority": "high",
        }
    ]
    assert HealthSnapshot.objects.using("monitoring").count() == 2


def test_an_alert_resolves_itself_when_its_condition_clears_and_says_so(operators: list[int]) -> None:
    service_make(4, "timeout", since=timezone.now() - timedelta(minutes=30))
    _evaluate()
    service_make(4, "healthy")

    evaluation = _evaluate()

    [alert] = Alert.objects.using("monitoring").all()
    assert (alert.status, alert.resolved_by) == ("resolved", None)
    assert [a.pk for a in evaluation.changes.resolved] == [alert.pk]
    assert [(n["title"], n["priority"], n["data"]["status"]) for n in _notices()] == [
        ("Service 4 has been down for over 10 min", "high", "firing"),
        ("Resolved: Service 4 has been down for over 10 min", "normal", "resolved"),
    ]


def test_a_service_down_briefly_or_deactivated_raises_nothing(operators: list[int], registry: RegistryStub) -> None:
    service_make(4, "unhealthy", since=timezone.now() - timedelta(minutes=3))
    service_make(5, "unhealthy", since=timezone.now() - timedelta(hours=3))
    service_make(6, "unhealthy", since=timezone.now() - timedelta(hours=3))
    registry.inactive.add(5)
    registry.missing.add(6)

    _evaluate()

    assert _open() == []
    assert _notices() == []


def test_a_service_failing_most_of_its_recent_jobs_raises_a_failure_rate_alert(operators: list[int]) -> None:
    recent = timezone.now() - timedelta(minutes=30)
    for status in ("failed", "failed", "failed", "completed", "completed"):
        job_make(status, service_id=3, created_at=recent, ran=60)
    for status in ("failed", "failed", "failed"):  # too few finished jobs to judge service 8
        job_make(status, service_id=8, created_at=recent, ran=60)

    _evaluate()

    [alert] = Alert.objects.using("monitoring").all()
    assert (alert.fingerprint, alert.title) == (
        "job_failure_rate:service:3",
        "60% of jobs on service 3 failed in the last 60 min",
    )
    assert alert.details == {"service_id": 3, "failed": 3, "finished": 5, "window_minutes": 60}


def test_event_backlogs_dead_letters_and_unserved_queues_each_raise_their_own_alert(operators: list[int]) -> None:
    events = {
        "outboxes": {"jobs": {"pending": 5, "oldest_seconds": 900.0}, "files": {"pending": 0, "oldest_seconds": None}},
        "consumers": {
            "notifications.send": {"pending": 700, "lag": 400},
            "monitoring.job_facts": {"pending": 0, "lag": 0},
        },
        "dead_letters": 2,
    }
    workers = {"workers": ["w1@host"], "queues": {"w1@host": ["node"]}, "unserved": ["celery"]}

    _evaluate(events=events, workers=workers)

    assert _open() == [
        ("event_backlog:outbox:jobs", "warning", "firing"),
        ("event_backlog:consumer:notifications.send", "warning", "firing"),
        ("event_backlog:dead_letters", "warning", "firing"),
        ("worker_missing:queue:celery", "critical", "firing"),
    ]
    assert [n["priority"] for n in _notices()] == ["high", "high", "high", "urgent"]


def test_a_rule_that_could_not_be_judged_keeps_its_alerts_open(operators: list[int]) -> None:
    _evaluate(workers={"workers": [], "queues": {}, "unserved": ["celery"]})

    _evaluate(workers={})  # the broker was unreachable: no worker data this time

    assert _open() == [("worker_missing:queue:celery", "critical", "firing")]


def test_alerts_raised_while_the_operators_are_unknown_are_notified_later(users: UsersStub) -> None:
    users.add(1, OPERATOR)
    users.unavailable = True
    service_make(4, "unhealthy", since=timezone.now() - timedelta(hours=1))
    _evaluate()
    waiting = Alert.objects.using("monitoring").get()

    users.unavailable = False
    later = _evaluate()

    assert (waiting.status, waiting.notified_at) == ("firing", None)
    assert [a.pk for a in later.changes.notified] == [waiting.pk]
    assert [n["user_ids"] for n in _notices()] == [[1]]


@pytest.mark.redis
@pytest.mark.usefixtures("own_counters")
def test_resolving_by_hand_while_the_condition_persists_opens_a_new_alert_next_time(operators: list[int]) -> None:
    service_make(4, "unhealthy", since=timezone.now() - timedelta(hours=1))
    _evaluate()
    first = Alert.objects.using("monitoring").get()
    call("POST", f"/api/monitoring/alerts/{first.pk}/resolve/", user_id=1)

    _evaluate()

    assert list(Alert.objects.using("monitoring").order_by("id").values_list("status", "resolved_by")) == [
        ("resolved", 1),
        ("firing", None),
    ]
    assert len(_notices()) == 2


# --- the API -----------------------------------------------------------------------------------------------------


@pytest.mark.redis
@pytest.mark.usefixtures("own_counters")
def test_operators_list_alerts_open_first_and_filter_them(operators: list[int]) -> None:
    service_make(4, "unhealthy", since=timezone.now() - timedelta(hours=1))
    service_make(5, "unhealthy", since=timezone.now() - timedelta(hours=1))
    _evaluate()
    older, newer = Alert.objects.using("monitoring").order_by("id")
    call("POST", f"/api/monitoring/alerts/{older.pk}/resolve/", user_id=2)
    newer.refresh_from_db()

    listed = call("GET", "/api/monitoring/alerts/", user_id=1)
    resolved = call("GET", "/api/monitoring/alerts/?status=resolved", user_id=1)
    bad = call("GET", "/api/monitoring/alerts/?status=sleeping", user_id=1)

    assert listed.status_code == 200
    body = listed.json()
    assert (body["count"], [a["id"] for a in body["results"]]) == (2, [newer.pk, older.pk])
    assert body["results"][0] == {
        "id": newer.pk,
        "rule": "service_down",
        "fingerprint": "service_down:service:5",
        "severity": "warning",
        "status": "firing",
        "title": "Service 5 has been down for over 10 min",
        "message": newer.message,
        "details": {"service_id": 5, "slug": "svc-5", "status": "unhealthy"},
        "opened_at": body["results"][0]["opened_at"],
        "last_seen_at": body["results"][0]["last_seen_at"],
        "notified_at": body["results"][0]["notified_at"],
        "acknowledged_at": None,
        "acknowledged_by": None,
        "resolved_at": None,
        "resolved_by": None,
        "resolution": None,
    }
    assert [(a["id"], a["resolution"], a["resolved_by"]) for a in resolved.json()["results"]] == [
        (older.pk, "manual", 2)
    ]
    assert bad.status_code == 400 and "status" in bad.json()["error"]["details"]


@pytest.mark.redis
@pytest.mark.usefixtures("own_counters")
def test_acknowledging_then_resolving_an_alert(operators: list[int]) -> None:
    service_make(4, "unhealthy", since=timezone.now() - timedelta(hours=1))
    _evaluate()
    alert = Alert.objects.using("monitoring").get()

    acknowledged = call("POST", f"/api/monitoring/alerts/{alert.pk}/acknowledge/", user_id=1)
    again = call("POST", f"/api/monitoring/alerts/{alert.pk}/acknowledge/", user_id=2)
    resolved = call("POST", f"/api/monitoring/alerts/{alert.pk}/resolve/", user_id=2)
    too_late = call("POST", f"/api/monitoring/alerts/{alert.pk}/acknowledge/", user_id=1)
    resolved_again = call("POST", f"/api/monitoring/alerts/{alert.pk}/resolve/", user_id=1)

    assert acknowledged.status_code == 200
    assert (acknowledged.json()["status"], acknowledged.json()["acknowledged_by"]) == ("acknowledged", 1)
    assert again.json()["acknowledged_by"] == 1  # the first acknowledgement stands
    assert (resolved.json()["status"], resolved.json()["resolved_by"], resolved.json()["resolution"]) == (
        "resolved",
        2,
        "manual",
    )
    assert too_late.status_code == 409
    assert too_late.json()["error"] == {
        "code": "CONFLICT",
        "message": "This alert is already resolved.",
        "details": {"status": "resolved"},
    }
    assert resolved_again.status_code == 200 and resolved_again.json()["resolved_by"] == 2


@pytest.mark.redis
@pytest.mark.usefixtures("own_counters")
def test_alerts_are_for_operators_and_an_unknown_one_is_a_404(operators: list[int]) -> None:
    researcher = call("GET", "/api/monitoring/alerts/", user_id=7)
    anonymous = call("POST", "/api/monitoring/alerts/1/acknowledge/")
    missing = call("POST", "/api/monitoring/alerts/999/resolve/", user_id=1)

    assert (researcher.status_code, researcher.json()["error"]["code"]) == (403, "AUTHORIZATION_ERROR")
    assert (anonymous.status_code, anonymous.json()["error"]["code"]) == (401, "AUTHENTICATION_ERROR")
    assert (missing.status_code, missing.json()["error"]) == (404, {"code": "NOT_FOUND", "message": "No alert 999."})
