"""The job engine both fronts share: creation, guarded state transitions, steps and messages, retention.

Every transition is a conditional UPDATE from the state the caller saw, so a cancel racing the pipeline has one
winner and the loser sees it (the pipeline checks the returned flag and stops).
"""

from __future__ import annotations

import hashlib
import secrets
import shutil
import string
from collections.abc import Iterable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.node import states
from apps.node.models import LogMessage, NodeJob, NodeUser, OutputFile, OutputParam, Step, Switches

_PASSWORD_SYMBOLS = "!@#%&*()_+[]{};:.<>?-="  # noqa: S105 (the alphabet, not a password)


def now() -> datetime:
    """The node's clock: real time plus an injected offset (the compressible clock retention tests use)."""
    offset = float(Switches.current().get("clock_offset_seconds", 0))
    return timezone.now() + timedelta(seconds=offset)


def node_dir() -> Path:
    return Path(settings.NODE_DIR)


def beagle_problem() -> str | None:
    """Why this node cannot impute, or None: Beagle 5 and bcftools/tabix must be on PATH (or NODE_BEAGLE)."""
    if Switches.current().get("beagle_missing") or not shutil.which(settings.NODE_BEAGLE):
        return "Beagle 5 is not installed on this node; install it with `apt-get install beagle`."
    for tool, package in (("bcftools", "bcftools"), ("tabix", "tabix"), ("zip", "zip")):
        if not shutil.which(tool):
            return f"{tool} is not installed on this node; install it with `apt-get install {package}`."
    return None


def password_random() -> str:
    """Cloudgene's shape: 5 upper, 5 lower, 2 digits, 2 symbols, shuffled."""
    pick = secrets.SystemRandom()
    chars = (
        [pick.choice(string.ascii_uppercase) for _ in range(5)]
        + [pick.choice(string.ascii_lowercase) for _ in range(5)]
        + [pick.choice(string.digits) for _ in range(2)]
        + [pick.choice(_PASSWORD_SYMBOLS) for _ in range(2)]
    )
    pick.shuffle(chars)
    return "".join(chars)


def job_create(
    user: NodeUser, *, name: str, params: dict[str, Any], password: str, front: str = "cloudgene", **extra: Any
) -> NodeJob:
    """A WAITING job with an empty workspace; the id is Cloudgene's `job-YYYYMMDD-HHMMSS-mmm`."""
    moment = now()
    for bump in range(1000):
        stamp = moment + timedelta(milliseconds=bump)
        job_id = f"job-{stamp:%Y%m%d-%H%M%S}-{stamp.microsecond // 1000:03d}"
        if not NodeJob.objects.filter(pk=job_id).exists():
            break
    workspace = node_dir() / "jobs" / job_id
    (workspace / "input").mkdir(parents=True, exist_ok=True)
    return NodeJob.objects.create(
        id=job_id,
        user=user,
        front=front,
        name=name or job_id,
        params=params,
        secret=password,
        workspace=str(workspace),
        submitted_on=moment,
        **extra,
    )


def transition(job: NodeJob, target: int, *, expected: Iterable[int] | None = None, **only_if: Any) -> bool:
    """Move `job` to `target` if the transition is allowed from its current state (and its row matches `only_if`);
    False when another writer won."""
    sources = [state for state in (expected or states.TRANSITIONS) if states.allowed(state, target)]
    changes: dict[str, Any] = {"state": target}
    moment = now()
    if target == states.RUNNING:
        changes["start_time"] = moment
    if target in (states.SUCCESS, states.FAILED, states.CANCELED, states.DEAD):
        changes["end_time"] = moment
    if target in (states.SUCCESS, states.FAILED, states.CANCELED):
        changes["outcome"] = target
    with transaction.atomic(using="node"):
        updated = NodeJob.objects.filter(pk=job.pk, state__in=sources, **only_if).update(**changes)
    if updated:
        for field, value in changes.items():
            setattr(job, field, value)
    else:
        job.refresh_from_db()
    return bool(updated)


def step_start(job: NodeJob, name: str) -> Step:
    return Step.objects.create(job=job, position=job.steps.count(), name=name)


def log(step: Step, message: str, kind: int = LogMessage.INFO) -> None:
    LogMessage.objects.create(step=step, type=kind, message=message)


def fail(job: NodeJob, step: Step, message: str) -> None:
    """The failure reason is the last ERROR message (what clients read); then the job goes FAILED."""
    log(step, message, LogMessage.ERROR)
    transition(job, states.FAILED)


def cancel(job: NodeJob) -> NodeJob:
    """GET .../cancel (Cloudgene): a queued or running job is CANCELED at once (the pipeline notices within a second
    and kills Beagle). An exporting job is past the point of no return: it finishes, and the cancel lost the race
    (as does a cancel of a finished job, which is left as it is)."""
    if job.state in (states.WAITING, states.RUNNING):
        transition(job, states.CANCELED, expected=[states.WAITING, states.RUNNING])
    if job.state == states.EXPORTING:
        _too_late(job)
    return job


def cancel_request(job: NodeJob) -> NodeJob:
    """POST .../cancel (WES): a queued run is CANCELED at once; a running one is asked to stop and reads CANCELING
    until the pipeline has stopped (`cancel_confirm`); exporting and finished runs are left to end as for `cancel`.

    The request and the pipeline's move to EXPORTING are both conditional updates of the row, so one of them wins.
    """
    if transition(job, states.CANCELED, expected=[states.WAITING]):
        return job
    with transaction.atomic(using="node"):
        asked = NodeJob.objects.filter(pk=job.pk, state=states.RUNNING).update(cancel_requested=True)
    job.refresh_from_db()
    if not asked and job.state == states.EXPORTING:
        _too_late(job)
    return job


def cancel_confirm(job: NodeJob) -> bool:
    """The pipeline stopped for a WES cancel: RUNNING -> CANCELED, only if a cancel was asked."""
    return transition(job, states.CANCELED, expected=[states.RUNNING], cancel_requested=True)


def _too_late(job: NodeJob) -> None:
    step = job.steps.last()
    if step is not None:
        log(
            step,
            "Cancel requested while the results were being exported: too late, the job finishes.",
            LogMessage.WARNING,
        )


def restart(job: NodeJob) -> bool:
    """Only a DEAD job restarts: back to WAITING with fresh steps (the caller queues it again)."""
    if not transition(job, states.WAITING, expected=[states.DEAD]):
        return False
    job.steps.all().delete()
    NodeJob.objects.filter(pk=job.pk).update(start_time=None, end_time=None, cancel_requested=False, outcome=None)
    return True


def server_restart() -> int:
    """What a Cloudgene server does on start: every queued, running or exporting job becomes DEAD."""
    return NodeJob.objects.filter(state__in=states.ACTIVE).update(state=states.DEAD, end_time=now())


def retention(*, at: datetime | None = None) -> dict[str, int]:
    """The notification cron: 4 -> 8 and 5/6 -> 9 after notificationAfter days, then 8/9 -> 7 when deletedOn passed."""
    moment = at or now()
    notify_after = timedelta(days=settings.NODE_NOTIFICATION_AFTER_DAYS)
    deleted_on = moment + timedelta(days=settings.NODE_RETIRE_AFTER_DAYS - settings.NODE_NOTIFICATION_AFTER_DAYS)
    due = moment - notify_after
    notified = NodeJob.objects.filter(state=states.SUCCESS, end_time__lte=due).update(
        state=states.SUCCESS_NOTIFIED, deleted_on=deleted_on
    )
    failed = NodeJob.objects.filter(state__in=[states.FAILED, states.CANCELED], end_time__lte=due).update(
        state=states.FAILED_NOTIFIED, deleted_on=deleted_on
    )
    retired = 0
    for job in NodeJob.objects.filter(
        state__in=[states.SUCCESS_NOTIFIED, states.FAILED_NOTIFIED], deleted_on__lte=moment
    ):
        if transition(job, states.RETIRED, expected=[job.state]):
            shutil.rmtree(job.workspace, ignore_errors=True)
            OutputParam.objects.filter(job=job).delete()
            retired += 1
    return {"notified": notified, "failed_notified": failed, "retired": retired}


def output_add(job: NodeJob, param_id: str, name: str, files: Iterable[tuple[str, Path]]) -> OutputParam:
    """Register result files under one output param; each gets a random hash (its download capability)."""
    param = OutputParam.objects.create(job=job, param_id=param_id, name=name, hash=secrets.token_hex(16))
    limit = settings.NODE_MAX_DOWNLOADS if param_id == "output" else -1
    for label, path in files:
        OutputFile.objects.create(
            param=param,
            name=label,
            path=str(path),
            hash=secrets.token_hex(20),
            size=path.stat().st_size,
            sha256=_sha256(path),
            count=limit,
        )
    return param


def download_take(file: OutputFile) -> bool:
    """One download: False when the counter is used up (the caller answers 400)."""
    if file.count == -1:
        return True
    with transaction.atomic(using="node"):
        return bool(OutputFile.objects.filter(pk=file.pk, count__gt=0).update(count=F("count") - 1))


def active_jobs(user: NodeUser) -> int:
    return NodeJob.objects.filter(user=user, state__in=[states.WAITING, states.RUNNING]).count()


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
