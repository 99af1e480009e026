"""The job state machine (reference/protocols.md §8.1), pure so it can be tested exhaustively.

A job's position is a (status, stage) pair. `stage` is the detail the new UI shows; `status` is what the old
UI knows and is derived from the stage, except for the side exits (failed, cancelled), which keep the stage at
which the job stopped. One table says which moves are allowed; `transition_check` is the only judge, and
`apps.jobs.services.transitions.job_transition` the only writer.
"""

from __future__ import annotations

from typing import Final

from apps.jobs.models import Stage, Status

TERMINAL: Final = frozenset({Status.COMPLETED, Status.FAILED, Status.CANCELLED})
ACTIVE: Final = frozenset({Status.PENDING, Status.QUEUED, Status.RUNNING})

# the order a job moves through; the remote may skip ahead between two polls, never go back
STAGE_ORDER: Final = (
    Stage.QUEUED,
    Stage.SUBMITTING,
    Stage.SUBMITTED,
    Stage.RUNNING,
    Stage.EXPORTING,
    Stage.DOWNLOADING,
    Stage.DONE,
)
_STATUS_OF_STAGE: Final = {
    Stage.QUEUED: Status.QUEUED,
    Stage.SUBMITTING: Status.QUEUED,
    Stage.SUBMITTED: Status.QUEUED,
    Stage.RUNNING: Status.RUNNING,
    Stage.EXPORTING: Status.RUNNING,
    Stage.DOWNLOADING: Status.RUNNING,
    Stage.DONE: Status.COMPLETED,
}
# the one way back: a submit the remote refused for now (too many jobs) or that never reached it goes back to queue
_BACKWARD: Final = frozenset({(Stage.SUBMITTING, Stage.QUEUED)})


class TransitionError(ValueError):
    """A move the state machine does not allow; the message names both ends."""


def status_of(stage: str) -> str:
    """The old-UI status of an active stage."""
    return str(_STATUS_OF_STAGE[Stage(stage)])


def transition_check(*, status: str, stage: str, to_status: str, to_stage: str) -> None:
    """Raise TransitionError unless (status, stage) -> (to_status, to_stage) is allowed.

    - a terminal status is never left;
    - pending moves to queued (stage queued) or exits;
    - failed/cancelled may be entered from any active position, keeping the stage reached;
    - completed only from downloading (results stored and checksummed), as stage done;
    - otherwise the stage moves forward (skipping is fine: the remote may finish between polls), or stays to
      record progress, or goes back from submitting to queued.
    """
    here, there = f"{status}/{stage}", f"{to_status}/{to_stage}"
    if status in TERMINAL:
        raise TransitionError(f"The job is {status}; a finished job never changes state ({here} -> {there}).")
    if to_status in (Status.FAILED, Status.CANCELLED):
        if to_stage != stage:
            raise TransitionError(f"A job stops at the stage it reached ({here} -> {there}).")
        return
    if to_status == Status.PENDING:
        if status != Status.PENDING or to_stage != Stage.QUEUED:
            raise TransitionError(f"Only a pending job stays pending ({here} -> {there}).")
        return
    if to_stage not in _STATUS_OF_STAGE or to_status != _STATUS_OF_STAGE[Stage(to_stage)]:
        raise TransitionError(f"Status {to_status} does not go with stage {to_stage} ({here} -> {there}).")
    if status == Status.PENDING:
        if to_stage != Stage.QUEUED:
            raise TransitionError(f"A pending job is queued before anything else ({here} -> {there}).")
        return
    if to_stage == Stage.DONE and stage != Stage.DOWNLOADING:
        raise TransitionError(f"A job completes only after its results are downloaded ({here} -> {there}).")
    if (stage, to_stage) in _BACKWARD:
        return
    if STAGE_ORDER.index(Stage(to_stage)) < STAGE_ORDER.index(Stage(stage)):
        raise TransitionError(f"A job never moves back to an earlier stage ({here} -> {there}).")
