"""Cloudgene's numeric job states and the transitions the real server makes (protocols.md §1.6)."""

from __future__ import annotations

from typing import Final

DEAD: Final = -1
WAITING: Final = 1
RUNNING: Final = 2
EXPORTING: Final = 3
SUCCESS: Final = 4
FAILED: Final = 5
CANCELED: Final = 6
RETIRED: Final = 7
SUCCESS_NOTIFIED: Final = 8
FAILED_NOTIFIED: Final = 9
DELETED: Final = 10

ACTIVE: Final = frozenset({WAITING, RUNNING, EXPORTING})
TRANSITIONS: Final[dict[int, frozenset[int]]] = {
    WAITING: frozenset({RUNNING, CANCELED, DEAD}),
    RUNNING: frozenset({EXPORTING, FAILED, CANCELED, DEAD}),
    EXPORTING: frozenset({SUCCESS, FAILED, DEAD}),
    SUCCESS: frozenset({SUCCESS_NOTIFIED, DELETED}),
    FAILED: frozenset({FAILED_NOTIFIED, DELETED}),
    CANCELED: frozenset({FAILED_NOTIFIED, DELETED}),
    SUCCESS_NOTIFIED: frozenset({RETIRED, DELETED}),
    FAILED_NOTIFIED: frozenset({RETIRED, DELETED}),
    DEAD: frozenset({WAITING, DELETED}),
    RETIRED: frozenset(),
    DELETED: frozenset(),
}

# WES view of the same job (protocols.md §2.2); a cancel asked of a running job shows CANCELING until it stops
WES_STATES: Final[dict[int, str]] = {
    WAITING: "QUEUED",
    RUNNING: "RUNNING",
    EXPORTING: "RUNNING",
    SUCCESS: "COMPLETE",
    SUCCESS_NOTIFIED: "COMPLETE",
    FAILED: "EXECUTOR_ERROR",
    CANCELED: "CANCELED",
    FAILED_NOTIFIED: "EXECUTOR_ERROR",
    RETIRED: "COMPLETE",
    DELETED: "CANCELED",
    DEAD: "SYSTEM_ERROR",
}


def allowed(current: int, target: int) -> bool:
    return target in TRANSITIONS.get(current, frozenset())
