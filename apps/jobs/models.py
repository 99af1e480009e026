"""Persistent state of the jobs context (its own database alias).

An ImputationJob's status/stage/progress is a projection of its JobStatusUpdate rows: only
`apps.jobs.services.transitions.job_transition` writes them, and it appends the history row, updates the
projection and records the `job.status.updated` event in one transaction. Owners, services, panels and files
live in other contexts, so they are plain ids here (no cross-database foreign keys).
"""

from __future__ import annotations

import uuid

from django.db import models
from django.utils import timezone

from apps.kernel.outbox import InboxEntryBase, OutboxEventBase
from apps.kernel.secretbox import secret_open

DB = "jobs"  # the alias of this context: every query and transaction of apps.jobs names it


class OutboxEvent(OutboxEventBase):
    """Events of this context waiting for the relay, written in the same transaction as the change."""


class InboxEntry(InboxEntryBase):
    """Events this context's consumers have applied, so each effect happens once."""


class Status(models.TextChoices):
    """The statuses the old UI knows; `Stage` gives the detail."""

    PENDING = "pending"
    QUEUED = "queued"
    RUNNING = "running"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class Stage(models.TextChoices):
    QUEUED = "queued"
    SUBMITTING = "submitting"
    SUBMITTED = "submitted"
    RUNNING = "running"
    EXPORTING = "exporting"
    DOWNLOADING = "downloading"
    DONE = "done"


class FailureCategory(models.TextChoices):
    VALIDATION = "validation"
    QC = "qc"
    REMOTE_PIPELINE = "remote_pipeline"
    REMOTE_SYSTEM = "remote_system"
    AUTH = "auth"
    QUOTA = "quota"
    EXPIRED = "expired"
    DOWNLOAD = "download"
    LOST = "lost"
    INPUT = "input"  # our own pre-flight: the input file is missing, rejected or unsuitable for the panel


class Mode(models.TextChoices):
    IMPUTATION = "imputation"
    QC_ONLY = "qc_only"


class Phasing(models.TextChoices):
    EAGLE = "eagle"
    BEAGLE = "beagle"
    NO_PHASING = "no_phasing"


class ImputationJob(models.Model):
    """One submission to one service and panel; a batch is a parent job (no service) with one child per target."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    owner_id = models.BigIntegerField(db_index=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    service_id = models.BigIntegerField(null=True, blank=True)  # null on a batch parent
    service_slug = models.CharField(max_length=100, blank=True, default="")
    service_name = models.CharField(max_length=200, blank=True, default="")
    panel_id = models.BigIntegerField(null=True, blank=True)
    panel_slug = models.CharField(max_length=200, blank=True, default="")
    panel_name = models.CharField(max_length=200, blank=True, default="")
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    retry_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="retries")
    attempt = models.PositiveIntegerField(default=1)
    input_file_ids = models.JSONField(default=list)
    build = models.CharField(max_length=10, default="hg19")
    phasing = models.CharField(max_length=20, choices=Phasing.choices, default=Phasing.EAGLE)
    population = models.CharField(max_length=50, default="off")
    mode = models.CharField(max_length=20, choices=Mode.choices, default=Mode.IMPUTATION)
    r2_filter = models.FloatField(default=0.0)
    input_format = models.CharField(max_length=20, default="vcf.gz")

    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    stage = models.CharField(max_length=20, choices=Stage.choices, default=Stage.QUEUED)
    progress = models.PositiveSmallIntegerField(default=0)
    queue_position = models.IntegerField(null=True, blank=True)
    message = models.TextField(blank=True, default="")  # the latest step message, shown beside the stage
    failure_category = models.CharField(max_length=20, choices=FailureCategory.choices, blank=True, default="")
    failure_message = models.TextField(blank=True, default="")

    external_job_id = models.CharField(max_length=200, blank=True, default="")
    remote_state_raw = models.CharField(max_length=40, blank=True, default="")
    remote_states_seen = models.JSONField(default=list)  # raw states in order (Cloudgene 6 -> 9 needs the history)
    password_encrypted = models.TextField(blank=True, default="")  # Fernet, JOBS_ENCRYPTION_KEYS
    results = models.JSONField(default=list)  # [{name, url, size, sha256, downloads_left, file_id, ...}]
    result_file_ids = models.JSONField(default=list)
    qc_summary = models.JSONField(default=dict, blank=True)
    retire_at = models.DateTimeField(null=True, blank=True)
    idempotency_key = models.CharField(max_length=200, blank=True, default="")

    # orchestration: when the next poll/submit is due, who holds the lease, what went wrong in a row
    next_action_at = models.DateTimeField(null=True, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    lease_token = models.CharField(max_length=40, blank=True, default="")
    submit_attempts = models.PositiveIntegerField(default=0)
    submit_started_at = models.DateTimeField(null=True, blank=True)
    transient_failures = models.PositiveIntegerField(default=0)
    not_found_count = models.PositiveIntegerField(default=0)
    auth_paused = models.BooleanField(default=False)
    auth_message = models.TextField(blank=True, default="")
    cancel_requested_at = models.DateTimeField(null=True, blank=True)
    cancel_sent_at = models.DateTimeField(null=True, blank=True)
    last_polled_at = models.DateTimeField(null=True, blank=True)

    created_at = models.DateTimeField(default=timezone.now, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ("-created_at",)
        indexes = [
            models.Index(fields=("owner_id", "-created_at"), name="jobs_owner_recent"),
            models.Index(fields=("service_id", "status"), name="jobs_service_status"),
            models.Index(fields=("status", "next_action_at"), name="jobs_due"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=("owner_id", "idempotency_key"),
                condition=~models.Q(idempotency_key=""),
                name="jobs_idempotency_once",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.id})"

    @property
    def is_batch(self) -> bool:
        return self.service_id is None

    @property
    def sent_nowhere(self) -> bool:
        """No submission has started: cancelling it needs no call to the service, nor the owner's token."""
        return not self.external_job_id and self.stage == Stage.QUEUED

    def password(self) -> str:
        """The zip password the platform generated for this job (its results open with it)."""
        return secret_open(self.password_encrypted, setting="JOBS_ENCRYPTION_KEYS")

    @property
    def duration_seconds(self) -> float | None:
        if self.started_at is None:
            return None
        end = self.completed_at or timezone.now()
        return round((end - self.started_at).total_seconds(), 1)


class JobStatusUpdate(models.Model):
    """One transition, append-only: the job's current state is always the last of these."""

    job = models.ForeignKey(ImputationJob, on_delete=models.CASCADE, related_name="history")
    status = models.CharField(max_length=20, choices=Status.choices)
    stage = models.CharField(max_length=20, choices=Stage.choices)
    progress = models.PositiveSmallIntegerField(default=0)
    message = models.TextField(blank=True, default="")
    remote_state = models.CharField(max_length=40, blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("id",)

    def __str__(self) -> str:
        return f"{self.job_id}: {self.status}/{self.stage} {self.progress}%"

    def save(self, *args: object, **kwargs: object) -> None:
        if self.pk is not None:
            raise ValueError("JobStatusUpdate rows are append-only.")
        super().save(*args, **kwargs)


class JobLog(models.Model):
    """A remote step/task message, stored once however often a poll sees it."""

    job = models.ForeignKey(ImputationJob, on_delete=models.CASCADE, related_name="logs")
    step = models.CharField(max_length=200, blank=True, default="")
    index = models.PositiveIntegerField()  # the message's position in the remote log
    level = models.CharField(max_length=10, default="info")
    message = models.TextField()
    digest = models.CharField(max_length=64)  # sha256 of step + message: the de-duplication key
    time = models.DateTimeField(default=timezone.now)
    url = models.URLField(max_length=1000, blank=True, default="")

    class Meta:
        ordering = ("index", "id")
        constraints = [models.UniqueConstraint(fields=("job", "digest"), name="jobs_log_once")]

    def __str__(self) -> str:
        return f"{self.job_id} #{self.index}: {self.message[:60]}"


class JobBatch(models.Model):
    """What a multi-target submission asked for; its parent job carries the aggregated status."""

    owner_id = models.BigIntegerField(db_index=True)
    parent = models.OneToOneField(ImputationJob, on_delete=models.CASCADE, related_name="batch")
    targets = models.JSONField(default=list)  # [{"service": id, "reference_panel": id}] as resolved
    created_at = models.DateTimeField(default=timezone.now)

    def __str__(self) -> str:
        return f"batch {self.parent_id} ({len(self.targets)} targets)"


class JobTemplate(models.Model):
    """Saved submission settings: service, panel and options, reused in the New job form and by schedules."""

    owner_id = models.BigIntegerField(db_index=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    params = models.JSONField(default=dict)  # the POST /api/jobs/ fields except input_files
    created_at = models.DateTimeField(default=timezone.now)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ("name", "id")
        constraints = [models.UniqueConstraint(fields=("owner_id", "name"), name="jobs_template_name_once")]

    def __str__(self) -> str:
        return self.name


class Recurrence(models.TextChoices):
    ONCE = "once"
    DAILY = "daily"
    WEEKLY = "weekly"
    MONTHLY = "monthly"
    CRON = "cron"


class ScheduledJob(models.Model):
    """A submission made later, or again and again, by the beat task `jobs.schedules_run`."""

    owner_id = models.BigIntegerField(db_index=True)
    name = models.CharField(max_length=200)
    params = models.JSONField(default=dict)  # the POST /api/jobs/ body (input_files included)
    template = models.ForeignKey(JobTemplate, null=True, blank=True, on_delete=models.SET_NULL)
    recurrence = models.CharField(max_length=10, choices=Recurrence.choices, default=Recurrence.ONCE)
    cron = models.CharField(max_length=100, blank=True, default="")
    next_run_at = models.DateTimeField(null=True, blank=True, db_index=True)
    max_runs = models.PositiveIntegerField(null=True, blank=True)
    runs = models.PositiveIntegerField(default=0)
    is_active = models.BooleanField(default=True)
    last_job = models.ForeignKey(ImputationJob, null=True, blank=True, on_delete=models.SET_NULL)
    last_error = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ("next_run_at", "id")

    def __str__(self) -> str:
        return f"{self.name} ({self.recurrence})"
