"""Remote job states mapped onto the platform's common state machine (protocols.md §8.1, §8.2, §8.3).

The mapping is pure: it takes the raw state, the raw states seen before (the job record's `remote_state_seen`)
and what the step logs say, so the jobs context can replay it and the tests can pin every row of the tables.
Cloudgene needs the history because a cancelled job later turns into 9, which otherwise reads as a failure;
WES needs it because UNKNOWN means "keep the previous state" and, after too many in a row, "lost".
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Final

# central states (§8.1); `downloading` means the remote is done and the platform must now fetch the results
SUBMITTED: Final = "submitted"
RUNNING: Final = "running"
EXPORTING: Final = "exporting"
DOWNLOADING: Final = "downloading"
COMPLETED: Final = "completed"
FAILED: Final = "failed"
CANCELLING: Final = "cancelling"
CANCELLED: Final = "cancelled"

# failure categories (§8.1)
VALIDATION: Final = "validation"
QC: Final = "qc"
REMOTE_PIPELINE: Final = "remote_pipeline"
REMOTE_SYSTEM: Final = "remote_system"
AUTH: Final = "auth"
QUOTA: Final = "quota"
EXPIRED: Final = "expired"
DOWNLOAD: Final = "download"
LOST: Final = "lost"

# Cloudgene state codes (§1.6)
CG_WAITING, CG_RUNNING, CG_EXPORTING, CG_SUCCESS, CG_FAILED, CG_CANCELED = 1, 2, 3, 4, 5, 6
CG_RETIRED, CG_SUCCESS_NOTIFIED, CG_FAILED_NOTIFIED, CG_DELETED, CG_DEAD = 7, 8, 9, 10, -1
CLOUDGENE_STATE_CODES: Final = (1, 2, 3, 4, 5, 6, 7, 8, 9, 10, -1)
CLOUDGENE_ACTIVE: Final = frozenset({CG_WAITING, CG_RUNNING, CG_EXPORTING})

WES_STATES: Final = (
    "UNKNOWN",
    "QUEUED",
    "INITIALIZING",
    "RUNNING",
    "PAUSED",
    "COMPLETE",
    "EXECUTOR_ERROR",
    "SYSTEM_ERROR",
    "CANCELED",
    "CANCELING",
    "PREEMPTED",
)
WES_FINISHED: Final = frozenset({"COMPLETE", "EXECUTOR_ERROR", "SYSTEM_ERROR", "CANCELED", "PREEMPTED"})
# UNKNOWN polls in a row (the current one included) after which a WES run counts as lost
WES_UNKNOWN_LIMIT: Final = 5

_QC_MARKERS = ("strand flips", "allele switches", "chunks passed")


@dataclass(frozen=True)
class MappedState:
    """One raw state read in context: the central state, whether the remote will still change it, and why it failed."""

    state: str
    finished: bool
    failure_category: str | None = None
    failure_message: str = ""
    restartable: bool = False  # Cloudgene DEAD (-1): GET .../restart brings the job back
    resubmittable: bool = False  # WES PREEMPTED: resubmit once


def failure_classify(*, step: str, message: str) -> str:
    """§8.2 step 4: the step that failed (or the QC wording of the message) says whose problem it is.

    Step names are compared loosely ("Input Validation", "INPUT_VALIDATION", "input-validation") so WES task names
    that follow the Cloudgene step names classify the same way.
    """
    step_words = re.sub(r"[_\-\s]+", " ", step).strip().lower()
    text = message.lower()
    if "input validation" in step_words:
        return VALIDATION
    if "quality control" in step_words or any(marker in text for marker in _QC_MARKERS):
        return QC
    return REMOTE_PIPELINE


def cloudgene_state_map(
    raw: int,
    *,
    seen: Iterable[str | int] = (),
    already_downloaded: bool = False,
    failed_step: str = "",
    failure_message: str = "",
) -> MappedState:
    """§8.2's table. `seen` holds the raw states of earlier polls (ints or their strings, as the job record keeps them).

    `failed_step`/`failure_message` are the step and text of the last error message of the job's logs; they
    classify FAILED (and 9 when it was not a cancellation).
    """
    seen_codes = {str(code).strip() for code in seen}
    if raw == CG_WAITING:
        return MappedState(SUBMITTED, finished=False)
    if raw == CG_RUNNING:
        return MappedState(RUNNING, finished=False)
    if raw == CG_EXPORTING:
        return MappedState(EXPORTING, finished=False)
    if raw in (CG_SUCCESS, CG_SUCCESS_NOTIFIED):
        return MappedState(DOWNLOADING, finished=True)
    if raw == CG_CANCELED or (raw == CG_FAILED_NOTIFIED and str(CG_CANCELED) in seen_codes):
        return MappedState(CANCELLED, finished=True)
    if raw in (CG_FAILED, CG_FAILED_NOTIFIED):
        message = failure_message or "The remote job failed without an error message."
        category = failure_classify(step=failed_step, message=failure_message)
        return MappedState(FAILED, finished=True, failure_category=category, failure_message=message)
    if raw in (CG_RETIRED, CG_DELETED):
        if already_downloaded:
            return MappedState(COMPLETED, finished=True)
        why = "retired after the retention period" if raw == CG_RETIRED else "deleted on the remote server"
        return MappedState(
            FAILED,
            finished=True,
            failure_category=EXPIRED,
            failure_message=f"The results were {why} before they were downloaded.",
        )
    if raw == CG_DEAD:
        return MappedState(
            FAILED,
            finished=True,
            failure_category=REMOTE_SYSTEM,
            failure_message="The remote server restarted while the job was active; the job can be restarted.",
            restartable=True,
        )
    return MappedState(
        FAILED,
        finished=True,
        failure_category=REMOTE_SYSTEM,
        failure_message=f"The remote server reported an unknown job state {raw}.",
    )


def wes_state_map(
    raw: str,
    *,
    seen: Iterable[str | int] = (),
    failed_step: str = "",
    failure_message: str = "",
    unknown_limit: int = WES_UNKNOWN_LIMIT,
) -> MappedState:
    """§8.3's table. UNKNOWN (or a state this client does not know) keeps the state of the last known raw state."""
    state = raw.strip().upper() if raw else "UNKNOWN"
    if state not in WES_STATES:
        state = "UNKNOWN"
    if state == "UNKNOWN":
        history = [str(item).strip().upper() for item in seen]
        trailing_unknown = 1
        for earlier in reversed(history):
            if earlier in WES_STATES and earlier != "UNKNOWN":
                break
            trailing_unknown += 1
        if trailing_unknown >= unknown_limit:
            return MappedState(
                FAILED,
                finished=True,
                failure_category=LOST,
                failure_message=f"The remote node reported no known state for {trailing_unknown} polls in a row.",
            )
        known = [earlier for earlier in history if earlier in WES_STATES and earlier != "UNKNOWN"]
        if not known:
            return MappedState(SUBMITTED, finished=False)
        return wes_state_map(known[-1], failed_step=failed_step, failure_message=failure_message)
    if state in ("QUEUED", "INITIALIZING"):
        return MappedState(SUBMITTED, finished=False)
    if state in ("RUNNING", "PAUSED"):
        return MappedState(RUNNING, finished=False)
    if state == "COMPLETE":
        return MappedState(DOWNLOADING, finished=True)
    if state == "CANCELING":
        return MappedState(CANCELLING, finished=False)
    if state == "CANCELED":
        return MappedState(CANCELLED, finished=True)
    if state == "EXECUTOR_ERROR":
        message = failure_message or "The workflow exited with an error."
        category = failure_classify(step=failed_step, message=failure_message)
        return MappedState(FAILED, finished=True, failure_category=category, failure_message=message)
    if state == "PREEMPTED":
        return MappedState(
            FAILED,
            finished=True,
            failure_category=REMOTE_SYSTEM,
            failure_message=failure_message or "The remote node reclaimed the capacity (PREEMPTED).",
            resubmittable=True,
        )
    # SYSTEM_ERROR
    return MappedState(
        FAILED,
        finished=True,
        failure_category=REMOTE_SYSTEM,
        failure_message=failure_message or "The remote node had an infrastructure failure (SYSTEM_ERROR).",
    )
