"""GET /api/dashboard/stats/ (the caller's own jobs, services available and accessible) and GET /api/analytics/
(operators: jobs per service per day, success rates, durations, failure categories), through the whole stack."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from apps.monitoring.tests.factories import (
    NO_JOBS,
    OPERATOR,
    T0,
    VIEWER,
    UsersStub,
    call,
    job_make,
    service_make,
)

pytestmark = [
    pytest.mark.django_db(databases=["monitoring"]),
    pytest.mark.redis,
    pytest.mark.usefixtures("own_counters"),
]

DAY = timedelta(days=1)


def test_the_dashboard_counts_only_the_callers_jobs_and_lists_their_newest(users: UsersStub) -> None:
    users.add(7)
    first = job_make("completed", created_at=T0)
    second = job_make("completed", created_at=T0 + timedelta(hours=1))
    third = job_make("failed", created_at=T0 + timedelta(hours=2), failure_category="input_invalid")
    newest = job_make("running", created_at=T0 + timedelta(hours=3), service_id=5)
    job_make("completed", user_id=8, created_at=T0 + timedelta(hours=4))  # someone else's
    service_make(3, "healthy")
    service_make(5, "unhealthy")
    service_make(6, "healthy")

    response = call("GET", "/api/dashboard/stats/", user_id=7)

    assert response.status_code == 200
    body = response.json()
    assert body["jobs"] == {
        "total": 4,
        "active": 1,
        "by_status": {"pending": 0, "queued": 0, "running": 1, "completed": 2, "failed": 1, "cancelled": 0},
        "success_rate": 0.6667,
    }
    assert [job["id"] for job in body["recent_jobs"]] == [str(j.job_id) for j in (newest, third, second, first)]
    assert body["recent_jobs"][0] == {
        "id": str(newest.job_id),
        "name": newest.name,
        "status": "running",
        "stage": "queued",
        "progress": 0,
        "service_id": 5,
        "service": "svc-5",
        "parent_id": None,
        "failure_category": None,
        "created_at": "2026-03-02T12:00:00Z",
        "started_at": "2026-03-02T12:01:00Z",
        "completed_at": None,
    }
    assert body["services"] == {"known": 3, "available": 2, "accessible": 2}


def test_a_caller_who_may_not_submit_has_no_accessible_service_and_a_new_caller_an_empty_dashboard(
    users: UsersStub,
) -> None:
    users.add(9, VIEWER)
    service_make(3, "healthy")

    body = call("GET", "/api/dashboard/stats/", user_id=9).json()

    assert body == {
        "jobs": NO_JOBS,
        "recent_jobs": [],
        "services": {"known": 1, "available": 1, "accessible": 0},
    }


def test_the_dashboard_says_accessible_is_unknown_while_the_users_context_is_down(users: UsersStub) -> None:
    users.unavailable = True
    job_make("completed")

    response = call("GET", "/api/dashboard/stats/", user_id=7)

    assert response.status_code == 200
    assert response.json()["services"] == {"known": 0, "available": 0, "accessible": None}
    assert response.json()["jobs"]["total"] == 1


def test_the_dashboard_needs_a_signed_in_caller() -> None:
    response = call("GET", "/api/dashboard/stats/")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_ERROR"


def _seed_two_days() -> None:
    service_make(3, "healthy")
    job_make("completed", created_at=T0, ran=600)
    job_make("completed", created_at=T0 + timedelta(hours=1), ran=1200)
    job_make("failed", created_at=T0 + timedelta(hours=2), failure_category="remote_error", ran=30)
    job_make("failed", created_at=T0 + DAY, failure_category="remote_error", ran=30)
    job_make("failed", created_at=T0 + DAY, service_id=5, failure_category="input_invalid", queued=None, ran=None)
    job_make("cancelled", created_at=T0 + DAY, service_id=5, ran=10)
    job_make("completed", created_at=T0 + DAY, service_id=5, ran=3000, queued=300)
    job_make("completed", created_at=T0 - 5 * DAY)  # outside the window


def test_analytics_break_the_window_down_by_service_and_day(users: UsersStub) -> None:
    users.add(1, OPERATOR)
    _seed_two_days()

    response = call("GET", "/api/analytics/?start=2026-03-01&end=2026-03-03", user_id=1)

    assert response.status_code == 200
    body = response.json()
    assert body["window"] == {"start": "2026-03-01", "end": "2026-03-03", "days": 3}
    assert body["totals"] == {
        "jobs": 7,
        "by_status": {"pending": 0, "queued": 0, "running": 0, "completed": 3, "failed": 3, "cancelled": 1},
        "success_rate": 0.5,
    }
    zero: dict[str, Any] = {"pending": 0, "queued": 0, "running": 0}
    assert body["jobs_per_service_per_day"] == [
        {"date": "2026-03-02", "service_id": 3, "service": "svc-3", "total": 3, **zero,
         "completed": 2, "failed": 1, "cancelled": 0},
        {"date": "2026-03-03", "service_id": 3, "service": "svc-3", "total": 1, **zero,
         "completed": 0, "failed": 1, "cancelled": 0},
        {"date": "2026-03-03", "service_id": 5, "service": "5", "total": 3, **zero,
         "completed": 1, "failed": 1, "cancelled": 1},
    ]  # fmt: skip
    assert [(s["service_id"], s["total"], s["success_rate"], s["duration"]) for s in body["services"]] == [
        (3, 4, 0.5, {"completed": 2, "avg_seconds": 900.0, "max_seconds": 1200.0}),
        (5, 3, 0.5, {"completed": 1, "avg_seconds": 3000.0, "max_seconds": 3000.0}),
    ]
    assert body["durations"] == {
        "completed": 3,
        "avg_seconds": 1600.0,
        "p50_seconds": 1200.0,
        "p95_seconds": 3000.0,
        "max_seconds": 3000.0,
    }
    assert body["queue"] == {"started": 6, "avg_seconds": 100.0}
    assert body["failure_categories"] == [
        {"category": "remote_error", "count": 2},
        {"category": "input_invalid", "count": 1},
    ]


def test_analytics_are_for_operators_only(users: UsersStub) -> None:
    users.add(7)

    response = call("GET", "/api/analytics/", user_id=7)

    assert response.status_code == 403
    assert response.json()["error"] == {
        "code": "AUTHORIZATION_ERROR",
        "message": "This needs the 'view_all_jobs' capability (admins and service admins).",
    }


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("days=0", "days"),
        ("days=400", "days"),
        ("start=2026-03-05&end=2026-03-01", "end"),
        ("start=2024-01-01&end=2026-03-03", "start"),
    ],
)
def test_analytics_refuse_a_window_that_is_empty_or_too_long(users: UsersStub, query: str, field: str) -> None:
    users.add(1, OPERATOR)

    response = call("GET", f"/api/analytics/?{query}", user_id=1)

    assert response.status_code == 400
    assert response.json()["error"]["code"] == "VALIDATION_ERROR"
    assert field in response.json()["error"]["details"]


def test_a_batch_parent_is_listed_among_recent_jobs_but_only_its_children_are_counted(users: UsersStub) -> None:
    users.add(7)
    parent = job_make("running", service_id=None, created_at=T0)  # a batch parent has no service of its own
    job_make("completed", created_at=T0, parent_id=str(parent.job_id))
    job_make("running", service_id=5, created_at=T0, parent_id=str(parent.job_id))

    body = call("GET", "/api/dashboard/stats/", user_id=7).json()

    assert (body["jobs"]["total"], body["jobs"]["by_status"]["running"], body["jobs"]["active"]) == (2, 1, 1)
    assert str(parent.job_id) in [job["id"] for job in body["recent_jobs"]]
    assert [job["parent_id"] for job in body["recent_jobs"]].count(str(parent.job_id)) == 2
