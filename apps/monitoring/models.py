"""Persistent state of the monitoring context (its own database alias).

Monitoring never asks the jobs, registry or files contexts for their rows: it keeps projections of their events
(`JobFact` from `job.status.updated`, `ServiceState` from `service.health.changed`, `UploadFact` from
`file.upload.completed`), and computes the dashboard, analytics, business metrics and alert rules from them.
Each projection keeps the `occurred_at` of the event it last applied, so a late, older event never rolls it back.
"""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from apps.kernel.outbox import InboxEntryBase, OutboxEventBase

DB = "monitoring"  # the alias of this context: every query and transaction of apps.monitoring names it

JOB_STATUSES = ("pending", "queued", "running", "completed", "failed", "cancelled")
ACTIVE_JOB_STATUSES = ("pending", "queued", "running")
FINISHED_JOB_STATUSES = ("completed", "failed", "cancelled")
SERVICE_DOWN_STATUSES = ("unhealthy", "timeout")
RUNS = models.Q(service_id__isnull=False)  # jobs that run on a service: not batch parents
# JobDaySummary's run and queue figures, in the order the analytics' rows carry them after the counts by status
SUMMARY_TIMES = ("durations", "duration_sum", "duration_max", "queue_times", "queue_sum")
# one analytics row per (day, service): what JobDaySummary stores and the grouped pass over JobFact yields
DAY_ROW_FIELDS = ("day", "service_id", *JOB_STATUSES, *SUMMARY_TIMES)


class OutboxEvent(OutboxEventBase):
    """Events of this context waiting for the relay, written in the same transaction as the change."""


class InboxEntry(InboxEntryBase):
    """Events this context's consumers have applied, so each effect happens once."""


class JobFact(models.Model):
    """One row per job: its latest state as `job.status.updated` told it, plus the two durations the metrics and
    analytics need (computed once on write, so reads aggregate plain columns). Every write must go through
    `job_fact_apply` (or call `job_day_touch`): the analytics trust a day's summary until its JobDay version moves.

    A batch parent (no service of its own) is kept, so it shows among the caller's recent jobs, but every count,
    rate and duration leaves it out: its children are the runs, and counting both would count the work twice.

    The indexes serve the reads that must stay fast at 100k jobs (tests/benchmarks/monitoring/run.py): the
    caller's totals and recent jobs, and the windowed analytics and failure rates (covering, so PostgreSQL can
    answer from the index alone).
    """

    job_id = models.UUIDField(unique=True)
    user_id = models.PositiveBigIntegerField()
    service_id = models.PositiveBigIntegerField(null=True, blank=True)  # None on a batch parent
    panel_id = models.PositiveBigIntegerField(null=True, blank=True)
    parent_id = models.UUIDField(null=True, blank=True)
    name = models.CharField(max_length=200, blank=True, default="")
    status = models.CharField(max_length=16)
    stage = models.CharField(max_length=16, blank=True, default="")
    progress = models.PositiveSmallIntegerField(default=0)
    failure_category = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField()
    created_day = models.DateField()  # created_at's UTC date: analytics group by it without a per-row function
    started_at = models.DateTimeField(null=True, blank=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    queue_seconds = models.FloatField(null=True, blank=True)  # created -> started
    duration_seconds = models.FloatField(null=True, blank=True)  # started -> completed (finished jobs only)
    event_at = models.DateTimeField()  # occurred_at of the event last applied

    class Meta:
        indexes = [
            models.Index(fields=["user_id", "status"], condition=RUNS, name="monitoring_job_user_status"),
            models.Index(fields=["user_id", "-created_at"], name="monitoring_job_user_recent"),
            # analytics' one grouped pass over a window, answered from the index alone
            models.Index(
                fields=["created_day", "service_id", "status", "duration_seconds", "queue_seconds"],
                condition=RUNS,
                name="monitoring_job_daily",
            ),
            # failure categories in a window: status leads, so a bound parameter (not only a literal) can use it
            models.Index(
                fields=["status", "created_day", "failure_category"], condition=RUNS, name="monitoring_job_failures"
            ),
            # duration percentiles: walk completed jobs in duration order, filtering the window from the index
            models.Index(
                fields=["duration_seconds", "created_day"],
                condition=models.Q(status="completed") & RUNS,
                name="monitoring_job_durations",
            ),
            models.Index(
                fields=["completed_at", "service_id", "status"],
                condition=models.Q(completed_at__isnull=False),
                name="monitoring_job_completed",
            ),
            # the metrics' counts and histograms per service
            models.Index(
                fields=["service_id", "status", "duration_seconds", "queue_seconds"],
                condition=RUNS,
                name="monitoring_job_service",
            ),
        ]

    def __str__(self) -> str:
        return f"job {self.job_id} of user {self.user_id}: {self.status}"


class JobDay(models.Model):
    """Bookkeeping of the analytics' per-day summaries, one row per submission day that has jobs.

    The projection moves `version` on whenever it writes a job submitted that day; `summarised` is the version the
    day's JobDaySummary rows were computed at (None: never). A day whose two differ is read from JobFact instead,
    so the analytics are never behind the projection, and the periodic summarising catches it up.
    """

    day = models.DateField(unique=True)
    version = models.PositiveBigIntegerField(default=1)
    summarised = models.PositiveBigIntegerField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.day}: version {self.version}, summarised {self.summarised}"


class JobDaySummary(models.Model):
    """The analytics' grouped pass over one (submission day, service), stored: a year's analytics read about
    4,400 of these instead of aggregating 100k JobFact rows. Valid while its day's JobDay is summarised."""

    day = models.DateField()
    service_id = models.PositiveBigIntegerField()
    pending = models.PositiveIntegerField(default=0)
    queued = models.PositiveIntegerField(default=0)
    running = models.PositiveIntegerField(default=0)
    completed = models.PositiveIntegerField(default=0)
    failed = models.PositiveIntegerField(default=0)
    cancelled = models.PositiveIntegerField(default=0)
    durations = models.PositiveIntegerField(default=0)  # completed jobs with a run time
    duration_sum = models.FloatField(null=True, blank=True)
    duration_max = models.FloatField(null=True, blank=True)
    queue_times = models.PositiveIntegerField(default=0)  # jobs with a queue time
    queue_sum = models.FloatField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "service_id"], name="monitoring_job_day_service")]

    def __str__(self) -> str:
        return f"{self.day}, service {self.service_id}"


class ServiceState(models.Model):
    """The latest health of each external imputation service, from `service.health.changed`.

    `down_since` is when it last went from answering to not answering (unhealthy or timeout): the "service down for
    N minutes" rule reads it, as no new event comes while a service stays down.
    """

    service_id = models.PositiveBigIntegerField(unique=True)
    slug = models.CharField(max_length=100, blank=True, default="")
    name = models.CharField(max_length=200, blank=True, default="")
    status = models.CharField(max_length=16)
    previous = models.CharField(max_length=16, blank=True, default="")
    checked_at = models.DateTimeField(null=True, blank=True)
    response_time_ms = models.PositiveIntegerField(null=True, blank=True)
    message = models.CharField(max_length=500, blank=True, default="")
    down_since = models.DateTimeField(null=True, blank=True)
    event_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"service {self.slug or self.service_id}: {self.status}"


class UploadFact(models.Model):
    """One row per completed upload, from `file.upload.completed`: the upload-bytes metric sums them."""

    file_id = models.PositiveBigIntegerField(unique=True)
    owner_id = models.PositiveBigIntegerField()
    kind = models.CharField(max_length=16)
    status = models.CharField(max_length=16)
    size = models.PositiveBigIntegerField()
    event_at = models.DateTimeField()

    def __str__(self) -> str:
        return f"upload {self.file_id}: {self.size} bytes, {self.status}"


class HealthSnapshot(models.Model):
    """The health report of one periodic evaluation (the Celery beat task or `monitoring_evaluate`).

    The metrics endpoint exports the latest one instead of probing on every scrape, and its age is itself a
    metric: a snapshot that stops being renewed means the evaluation, hence the workers or beat, has stopped.
    """

    taken_at = models.DateTimeField(default=timezone.now, db_index=True)
    status = models.CharField(max_length=16)
    components = models.JSONField(default=list)

    def __str__(self) -> str:
        return f"{self.status} at {self.taken_at:%Y-%m-%d %H:%M:%S}"


class AlertRule(models.TextChoices):
    SERVICE_DOWN = "service_down", "An imputation service has been down for a while"
    JOB_FAILURE_RATE = "job_failure_rate", "Too many of a service's recent jobs failed"
    EVENT_BACKLOG = "event_backlog", "Events are piling up unpublished or unconsumed"
    WORKER_MISSING = "worker_missing", "No Celery worker serves a queue"


class AlertStatus(models.TextChoices):
    FIRING = "firing"
    ACKNOWLEDGED = "acknowledged"  # someone is on it: still open, no further notices
    RESOLVED = "resolved"


class Severity(models.TextChoices):
    WARNING = "warning"
    CRITICAL = "critical"


OPEN_ALERT_STATUSES = (AlertStatus.FIRING, AlertStatus.ACKNOWLEDGED)


class Alert(models.Model):
    """One occurrence of a rule's condition, from the evaluation that saw it until it is resolved.

    `fingerprint` ("<rule>:<subject>", e.g. "service_down:service:4") deduplicates: at most one open alert per
    fingerprint (a partial unique constraint), so a condition that persists across evaluations stays one alert.
    It is resolved automatically once an evaluation no longer sees the condition, or by hand. `notified_at` is set
    once the admins' `notification.send` is in the outbox; an alert raised while the users context could not name
    the admins is notified by a later evaluation.
    """

    rule = models.CharField(max_length=32, choices=AlertRule.choices)
    fingerprint = models.CharField(max_length=200)
    severity = models.CharField(max_length=16, choices=Severity.choices)
    status = models.CharField(max_length=16, choices=AlertStatus.choices, default=AlertStatus.FIRING)
    title = models.CharField(max_length=200)
    message = models.TextField(blank=True, default="")
    details = models.JSONField(default=dict, blank=True)
    opened_at = models.DateTimeField(default=timezone.now)
    last_seen_at = models.DateTimeField(default=timezone.now)
    notified_at = models.DateTimeField(null=True, blank=True)
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    acknowledged_by = models.PositiveBigIntegerField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolved_by = models.PositiveBigIntegerField(null=True, blank=True)  # None with resolved_at: automatic

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["fingerprint"],
                condition=~models.Q(status="resolved"),
                name="monitoring_alert_open_once",
            )
        ]
        indexes = [models.Index(fields=["status", "-opened_at"], name="monitoring_alert_status")]

    def __str__(self) -> str:
        return f"{self.fingerprint} ({self.status})"
