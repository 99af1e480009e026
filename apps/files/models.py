"""Persistent state of the files context (its own database alias).

Owners and jobs are other contexts' ids held as plain columns; bytes live in storage (apps/files/storage.py)
under keys the platform makes up, never under a name a user sent.
"""

from __future__ import annotations

from django.db import models

from apps.kernel.outbox import InboxEntryBase, OutboxEventBase

DB = "files"  # the alias of this context: every query and transaction of apps.files names it


class OutboxEvent(OutboxEventBase):
    """Events of this context waiting for the relay, written in the same transaction as the change."""


class InboxEntry(InboxEntryBase):
    """Events this context's consumers have applied, so each effect happens once."""


class FileKind(models.TextChoices):
    INPUT = "input", "Input (uploaded genotypes)"
    RESULT = "result", "Result (from a job)"


class FileStatus(models.TextChoices):
    UPLOADING = "uploading", "Uploading"
    VALIDATING = "validating", "Validating"
    READY = "ready", "Ready"
    REJECTED = "rejected", "Rejected by the pre-flight checks"


class UploadedFile(models.Model):
    """One file of a user: an upload in progress (tus), a validated input, or a job's result.

    `upload_offset` only ever moves forward under a lease (`lease_token` until `lease_until`) taken with an
    atomic compare-and-set on the offset, so two PATCHes can never both append at the same place.
    `sha256_state` is the running SHA-256 (apps/files/hashing.py) so a resumed upload keeps hashing where the
    last chunk stopped, in whichever process it lands; `multipart` is the S3 multipart state of an upload.
    A result registered only as a link (`storage_key` empty) has its bytes at the remote service; a stored result
    (`storage_key` under results/) has them here, once per job, name and SHA-256.
    """

    owner_id = models.PositiveBigIntegerField()
    kind = models.CharField(max_length=16, choices=FileKind.choices, default=FileKind.INPUT)
    status = models.CharField(max_length=16, choices=FileStatus.choices, default=FileStatus.UPLOADING)
    name = models.CharField(max_length=255)  # the original name, sanitised (apps/files/naming.py)
    storage_key = models.CharField(max_length=200, blank=True, default="")
    size = models.PositiveBigIntegerField(default=0)  # bytes stored so far; the declared length once complete
    upload_length = models.PositiveBigIntegerField(default=0)  # tus Upload-Length: what the client announced
    upload_offset = models.PositiveBigIntegerField(default=0)
    sha256 = models.CharField(max_length=64, blank=True, default="")
    sha256_state = models.BinaryField(null=True, blank=True)
    multipart = models.JSONField(default=dict, blank=True)
    lease_token = models.CharField(max_length=32, blank=True, default="")
    lease_until = models.DateTimeField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)  # tus Upload-Metadata other than the name
    validation_report = models.JSONField(null=True, blank=True)
    job_id = models.CharField(max_length=64, blank=True, default="")  # "" for files outside any job
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    completed_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["storage_key"], condition=~models.Q(storage_key=""), name="files_storage_key_unique"
            ),
            models.CheckConstraint(
                condition=models.Q(upload_offset__lte=models.F("upload_length")), name="files_offset_within_length"
            ),
            models.UniqueConstraint(  # storing a job's result again returns the one stored (result_store)
                fields=["owner_id", "job_id", "name", "sha256"],
                condition=models.Q(kind="result") & ~models.Q(storage_key=""),
                name="files_result_stored_once",
            ),
        ]
        indexes = [
            models.Index(fields=["owner_id", "kind", "created_at"], name="files_owner_kind"),
            models.Index(fields=["job_id"], name="files_job"),
            models.Index(fields=["status", "expires_at"], name="files_status_expiry"),
        ]

    def __str__(self) -> str:
        return f"file {self.pk} ({self.name}) of user {self.owner_id}"


class ResultType(models.TextChoices):
    IMPUTED = "imputed", "Imputed genotypes"
    QC_REPORT = "qc_report", "Quality-control report"
    LOG = "log", "Log"


class ResultFile(models.Model):
    """What the jobs context registered about a result: its type, the service's checksum and link, the zip password.

    `zip_password` is a Fernet token under FILES_ENCRYPTION_KEYS (apps/kernel/secretbox.py), opened only for the owner.
    """

    file = models.OneToOneField(UploadedFile, on_delete=models.CASCADE, related_name="result")
    result_type = models.CharField(max_length=16, choices=ResultType.choices)
    checksum = models.CharField(max_length=200, blank=True, default="")  # as the service states it, e.g. md5:…
    source_url = models.URLField(max_length=2000, blank=True, default="")
    zip_password = models.TextField(blank=True, default="")

    def __str__(self) -> str:
        return f"{self.result_type} result {self.file_id}"


class DownloadLog(models.Model):
    """One access to a file's bytes (or its zip password). `file_id` is plain so the trail outlives the file."""

    class Action(models.TextChoices):
        DOWNLOAD = "download", "Bytes streamed"
        REDIRECT = "redirect", "Redirected to a signed or source URL"
        LINK = "link", "Signed URL issued"
        SIGNED = "signed", "Bytes streamed through a signed URL"
        OPEN = "open", "Opened by another context"
        PASSWORD = "password", "Zip password shown"

    file_id = models.PositiveBigIntegerField()
    actor_id = models.PositiveBigIntegerField(null=True, blank=True)  # None: a signed URL or another context
    action = models.CharField(max_length=16, choices=Action.choices)
    byte_range = models.CharField(max_length=64, blank=True, default="")
    ip = models.GenericIPAddressField(null=True, blank=True)
    user_agent = models.CharField(max_length=256, blank=True, default="")
    request_id = models.CharField(max_length=128, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["file_id", "created_at"], name="files_download_file")]

    def __str__(self) -> str:
        return f"{self.action} of file {self.file_id} by {self.actor_id}"


class StorageAccount(models.Model):
    """One row per owner, locked while a new file's bytes are reserved against the quota, so two uploads
    started at once cannot both fit into the same free space."""

    owner_id = models.PositiveBigIntegerField(unique=True)

    def __str__(self) -> str:
        return f"storage of user {self.owner_id}"


class StorageOrphan(models.Model):
    """An object found in storage that no file row owns; deleted by the retention task once past the grace period."""

    key = models.CharField(max_length=300, unique=True)
    size = models.PositiveBigIntegerField(default=0)
    first_seen_at = models.DateTimeField(auto_now_add=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"orphan {self.key}"
