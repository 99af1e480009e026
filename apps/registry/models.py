"""Persistent state of the registry context (its own database alias): services, their panels and health."""

from __future__ import annotations

from django.db import models

from apps.kernel.outbox import InboxEntryBase, OutboxEventBase


class OutboxEvent(OutboxEventBase):
    """Events of this context waiting for the relay, written in the same transaction as the change."""


class InboxEntry(InboxEntryBase):
    """Events this context's consumers have applied, so each effect happens once."""


DB = "registry"  # the alias of this context: every query and transaction of apps.registry names it


class ApiType(models.TextChoices):
    CLOUDGENE = "cloudgene", "Cloudgene (Michigan, TOPMed, H3Africa)"
    WES = "wes", "GA4GH WES"
    DNASTACK = "dnastack", "DNAstack"
    SANGER_MANUAL = "sanger_manual", "Sanger (manual)"


class HealthStatus(models.TextChoices):
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"
    TIMEOUT = "timeout"
    UNKNOWN = "unknown"


def default_builds() -> list[str]:
    return ["hg19", "hg38"]


def default_formats() -> list[str]:
    return ["vcf.gz"]


class ImputationService(models.Model):
    """A remote imputation service the platform can submit to, with its limits and last known health.

    `base_url` is stored normalized (scheme and host lower-cased, no trailing slash, no API path suffix), so
    connectors append protocol paths exactly once.
    """

    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    api_type = models.CharField(max_length=32, choices=ApiType.choices)
    base_url = models.URLField(max_length=500)
    app_id = models.CharField(max_length=500, blank=True, default="")  # Cloudgene app, or WES workflow URL
    description = models.TextField(blank=True, default="")
    country = models.CharField(max_length=2, blank=True, default="")
    city = models.CharField(max_length=100, blank=True, default="")
    institution = models.CharField(max_length=200, blank=True, default="")
    latitude = models.FloatField(null=True, blank=True)
    longitude = models.FloatField(null=True, blank=True)
    requires_auth = models.BooleanField(default=True)
    max_file_size_mb = models.PositiveIntegerField(null=True, blank=True)
    supported_formats = models.JSONField(default=default_formats)
    supported_builds = models.JSONField(default=default_builds)
    max_jobs = models.PositiveIntegerField(null=True, blank=True)  # concurrent queued+running jobs per user
    min_samples = models.PositiveIntegerField(null=True, blank=True)
    max_samples = models.PositiveIntegerField(null=True, blank=True)
    downloads_per_file = models.PositiveIntegerField(null=True, blank=True)
    retention_days = models.PositiveIntegerField(null=True, blank=True)
    is_active = models.BooleanField(default=True)
    health_check_interval_seconds = models.PositiveIntegerField(default=300)
    health_status = models.CharField(max_length=16, choices=HealthStatus.choices, default=HealthStatus.UNKNOWN)
    health_checked_at = models.DateTimeField(null=True, blank=True)
    health_response_time_ms = models.PositiveIntegerField(null=True, blank=True)
    health_message = models.CharField(max_length=500, blank=True, default="")
    unhealthy_since = models.DateTimeField(null=True, blank=True)
    next_health_check_at = models.DateTimeField(null=True, blank=True)
    server_info = models.JSONField(default=dict, blank=True)  # WES service-info or Cloudgene server/app info
    server_info_at = models.DateTimeField(null=True, blank=True)
    panels_synced_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        indexes = [
            models.Index(fields=["is_active", "health_status"], name="registry_service_state"),
            models.Index(fields=["next_health_check_at"], name="registry_service_due"),
        ]

    def __str__(self) -> str:
        return self.name


class ReferencePanel(models.Model):
    """A reference panel a service offers; `slug` is the protocol's own id (e.g. apps@1000g-phase-3-v5@2.0.0)."""

    service = models.ForeignKey(ImputationService, on_delete=models.CASCADE, related_name="panels")
    slug = models.CharField(max_length=200)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    build = models.CharField(max_length=16, blank=True, default="")
    populations = models.JSONField(default=list)
    samples_count = models.PositiveIntegerField(null=True, blank=True)
    variants_count = models.PositiveBigIntegerField(null=True, blank=True)
    is_available = models.BooleanField(default=True)
    synced_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["service_id", "name"]
        constraints = [models.UniqueConstraint(fields=["service", "slug"], name="registry_panel_unique_slug")]

    def __str__(self) -> str:
        return f"{self.name} ({self.slug})"


class HealthCheck(models.Model):
    """One probe of a service; the history behind the health endpoint, pruned after REGISTRY_HEALTH_HISTORY_DAYS."""

    service = models.ForeignKey(ImputationService, on_delete=models.CASCADE, related_name="health_checks")
    status = models.CharField(max_length=16, choices=HealthStatus.choices)
    checked_at = models.DateTimeField()
    response_time_ms = models.PositiveIntegerField(null=True, blank=True)
    message = models.CharField(max_length=500, blank=True, default="")

    class Meta:
        ordering = ["-checked_at", "-id"]
        indexes = [models.Index(fields=["service", "checked_at"], name="registry_health_history")]

    def __str__(self) -> str:
        return f"{self.service_id} {self.status} at {self.checked_at:%Y-%m-%d %H:%M:%S}"


ACTIVE_JOB_STATUSES = ("pending", "queued", "running")


class ServiceJob(models.Model):
    """The latest known status of each platform job on a service, projected from `job.status.updated` events.

    The registry needs to know whether a service has active jobs (deactivation is refused while it does) and how
    loaded it is (discovery) without asking the jobs context on every request. `event_at` orders the events: an
    older one arriving late never overwrites a newer status.
    """

    job_id = models.CharField(max_length=64, unique=True)
    service_id = models.PositiveBigIntegerField()
    user_id = models.BigIntegerField(null=True, blank=True)
    status = models.CharField(max_length=32)
    event_at = models.DateTimeField()

    class Meta:
        indexes = [models.Index(fields=["service_id", "status"], name="registry_service_jobs")]

    def __str__(self) -> str:
        return f"job {self.job_id} on service {self.service_id}: {self.status}"
