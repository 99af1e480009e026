"""The node's records: users and their one API token, panels on disk, and Cloudgene-shaped jobs.

The node is a separate system with its own database (alias `node`); nothing here refers to the platform.
"""

from __future__ import annotations

from typing import Any

from django.db import models, transaction


class NodeUser(models.Model):
    username = models.CharField(max_length=150, unique=True)
    mail = models.EmailField(blank=True)
    admin = models.BooleanField(default=False)
    # Cloudgene's `api_hash`: a token is only valid while its hash is the user's current one (one active token)
    api_hash = models.CharField(max_length=64, blank=True)
    created = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.username


class Panel(models.Model):
    """A reference panel: a bgzipped, indexed VCF per chromosome and its metadata."""

    slug = models.SlugField(max_length=100, unique=True)
    name = models.CharField(max_length=200)
    version = models.CharField(max_length=40, default="1.0.0")
    build = models.CharField(max_length=8)  # hg19 | hg38: also the chromosome naming the panel's files use
    populations = models.JSONField(default=list)  # [{"id", "name", "samples"}]
    files = models.JSONField(default=dict)  # chromosome without "chr" -> absolute path of the panel VCF
    samples = models.IntegerField(default=0)
    variants = models.IntegerField(default=0)
    description = models.TextField(blank=True)

    def __str__(self) -> str:
        return self.slug

    @property
    def key(self) -> str:
        return f"apps@{self.slug}@{self.version}"


class NodeJob(models.Model):
    """One job; `state` holds the Cloudgene numeric code (see apps/node/states.py)."""

    id = models.CharField(max_length=40, primary_key=True)
    user = models.ForeignKey(NodeUser, on_delete=models.CASCADE, related_name="jobs")
    front = models.CharField(max_length=10, default="cloudgene")  # cloudgene | wes: who submitted it
    application = models.CharField(max_length=100, default="imputationserver2")
    name = models.CharField(max_length=300)
    state = models.IntegerField(default=1, db_index=True)
    params = models.JSONField(default=dict)  # refpanel, build, population, phasing, mode, r2Filter, aes, meta
    secret = models.CharField(max_length=200, blank=True)  # the zip password until packaging, then wiped
    workspace = models.CharField(max_length=500)
    wes_request = models.JSONField(default=dict, blank=True)  # the RunRequest as received (WES front)
    tags = models.JSONField(default=dict, blank=True)
    cancel_requested = models.BooleanField(default=False)  # WES CANCELING until the pipeline stops
    # the end the job reached (4, 5 or 6), kept when retention renumbers it to 8/9 and 7 (the WES front reads it)
    outcome = models.IntegerField(null=True, blank=True)
    user_agent = models.CharField(max_length=300, blank=True)
    submitted_on = models.DateTimeField()
    start_time = models.DateTimeField(null=True)
    end_time = models.DateTimeField(null=True)
    deleted_on = models.DateTimeField(null=True)  # set by retention: when the results go

    class Meta:
        ordering = ["-submitted_on", "-id"]

    def __str__(self) -> str:
        return self.id


class Step(models.Model):
    job = models.ForeignKey(NodeJob, on_delete=models.CASCADE, related_name="steps")
    position = models.IntegerField()
    name = models.CharField(max_length=200)
    started = models.DateTimeField(auto_now_add=True)
    ended = models.DateTimeField(null=True)

    class Meta:
        ordering = ["position"]

    def __str__(self) -> str:
        return f"{self.job_id}#{self.position} {self.name}"


class LogMessage(models.Model):
    INFO, ERROR, WARNING, RUNNING = 0, 1, 2, 3  # Cloudgene's message types

    step = models.ForeignKey(Step, on_delete=models.CASCADE, related_name="messages")
    type = models.IntegerField(default=INFO)
    message = models.TextField()
    time = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.message[:80]


class OutputParam(models.Model):
    job = models.ForeignKey(NodeJob, on_delete=models.CASCADE, related_name="output_params")
    param_id = models.CharField(max_length=60)  # output | cloudgene_logs
    name = models.CharField(max_length=200)
    hash = models.CharField(max_length=64, unique=True)

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.job_id}:{self.param_id}"


class OutputFile(models.Model):
    """A result file; its `hash` is the download capability of /share/results/<hash>/<name>."""

    param = models.ForeignKey(OutputParam, on_delete=models.CASCADE, related_name="files")
    name = models.CharField(max_length=300)  # may hold sub-paths: statistics/snps-excluded.txt
    path = models.CharField(max_length=500)
    hash = models.CharField(max_length=64, unique=True)
    size = models.BigIntegerField()
    sha256 = models.CharField(max_length=64)
    count = models.IntegerField()  # downloads left; -1 unlimited

    class Meta:
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class Switches(models.Model):
    """Operator switches and injected faults, one row: shared by every process of the node (web and worker)."""

    values = models.JSONField(default=dict)

    def __str__(self) -> str:
        return "node switches"

    @classmethod
    def current(cls) -> dict[str, Any]:
        row = cls.objects.filter(pk=1).first()
        return dict(row.values) if row else {}

    @classmethod
    def put(cls, **values: Any) -> dict[str, Any]:
        row, _ = cls.objects.get_or_create(pk=1)
        row.values = {**row.values, **values}
        row.save(update_fields=["values"])
        return dict(row.values)

    @classmethod
    def take(cls, name: str) -> bool:
        """Use up one firing of a counted fault (`fail_500: 3` fires 3 times, `true` once); False when none is left."""
        with transaction.atomic(using="node"):
            row = cls.objects.select_for_update().filter(pk=1).first()
            left = int(row.values.get(name) or 0) if row else 0
            if row is None or left <= 0:
                return False
            row.values = {**row.values, name: left - 1}
            row.save(update_fields=["values"])
        return True

    @classmethod
    def clear(cls) -> None:
        cls.objects.filter(pk=1).delete()
