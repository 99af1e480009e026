"""Stand-ins for the other contexts' public interfaces in the jobs context's own tests.

The jobs context asks the users, registry and files contexts through apps.<ctx>.public; its unit tests answer
with these small implementations of the same interfaces (a context's tests open only its own database). The real
contexts are exercised across the boundary by tests/contract/test_jobs.py and the end-to-end tests.
"""

from __future__ import annotations

import hashlib
import io
import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path
from typing import Any

from django.utils import timezone

from apps.files.public import FileInfo, FileMissingError, FilesService, ResultInvalidError, StorageHealth
from apps.registry.public import PanelNotFoundError, PanelRecord, RegistryService, ServiceNotFoundError, ServiceRecord
from apps.users.public import (
    CredentialExpiredError,
    CredentialMissingError,
    Quotas,
    UserInfo,
    UserNotFoundError,
    UsersService,
)

_ids = itertools.count(5_000)
REPORT_OK = {
    "detected_build": "hg19",
    "build_evidence": "chr20 length",
    "samples": 100,
    "samples_sha256": "abc",
    "problems": [],
}


class UsersStub(UsersService):
    """Accounts by id with a role, per-service rights, quotas and stored service tokens."""

    def __init__(self) -> None:
        self.roles: dict[int, str] = {}
        self.rights: dict[tuple[int, int], set[str]] = {}
        self.tokens: dict[tuple[int, int], str] = {}
        self.expired: set[tuple[int, int]] = set()
        self.monthly_jobs = 100
        self.token_reads: list[tuple[int, int, str]] = []

    def user(self, role: str = "researcher") -> int:
        user_id = next(_ids)
        self.roles[user_id] = role
        return user_id

    def user_get(self, *, user_id: int) -> UserInfo:
        if user_id not in self.roles:
            raise UserNotFoundError(str(user_id))
        role = self.roles[user_id]
        return UserInfo(
            id=user_id,
            username=f"user{user_id}",
            email=f"user{user_id}@example.org",
            first_name="",
            last_name="",
            role=role,
            is_active=True,
            is_staff=role == "admin",
            capabilities=frozenset({"submit_jobs"} if role != "viewer" else set()),
            timezone="UTC",
            email_notifications=True,
            quotas=Quotas(monthly_jobs=self.monthly_jobs, storage_bytes=1),
        )

    def service_permissions(self, *, user_id: int, service_id: int) -> frozenset[str]:
        role = self.roles.get(user_id)
        base = {"view", "submit_jobs"} if role in ("researcher", "admin", "service_admin") else {"view"}
        if role == "admin":
            base |= {"view_jobs", "manage_jobs", "admin"}
        return frozenset(base | self.rights.get((user_id, service_id), set()))

    def credential_token_for_job(self, *, owner_id: int, service_id: int, job_id: str) -> str:
        self.token_reads.append((owner_id, service_id, job_id))
        if (owner_id, service_id) in self.expired:
            raise CredentialExpiredError("expired")
        try:
            return self.tokens[(owner_id, service_id)]
        except KeyError:
            raise CredentialMissingError("no token") from None

    def service_audience(self, *, service_id: int) -> list[int]:
        return []


class RegistryStub(RegistryService):
    def __init__(self) -> None:
        self.services: dict[int, ServiceRecord] = {}
        self.panels: dict[int, PanelRecord] = {}

    def service_add(self, *, api_type: str, base_url: str, **fields: Any) -> ServiceRecord:
        service_id = next(_ids)
        record = ServiceRecord(
            id=service_id,
            slug=fields.pop("slug", f"svc-{service_id}"),
            name=fields.pop("name", f"Service {service_id}"),
            api_type=api_type,
            base_url=base_url,
            app_id=fields.pop("app_id", ""),
            is_active=True,
            requires_auth=True,
            health_status="healthy",
            supported_builds=("hg19", "hg38"),
            supported_formats=("vcf.gz",),
            max_file_size_mb=None,
            max_jobs=None,
            min_samples=None,
            max_samples=None,
            downloads_per_file=None,
            retention_days=7,
        )
        record = replace(record, **fields)
        self.services[service_id] = record
        return record

    def panel_add(self, service: ServiceRecord, *, slug: str = "apps@demo-panel@1.0.0", **fields: Any) -> PanelRecord:
        panel_id = next(_ids)
        record = PanelRecord(
            id=panel_id,
            service_id=service.id,
            slug=slug,
            name=fields.pop("name", "Demo panel"),
            build="hg19",
            populations=("eur", "afr", "mixed"),
            is_available=True,
        )
        record = replace(record, **fields)
        self.panels[panel_id] = record
        return record

    def service_get(self, *, id_or_slug: int | str) -> ServiceRecord:
        for service in self.services.values():
            if str(service.id) == str(id_or_slug) or service.slug == id_or_slug:
                return service
        raise ServiceNotFoundError(str(id_or_slug))

    def panel_get(self, *, service_id: int, id_or_slug: int | str) -> PanelRecord:
        for panel in self.panels.values():
            if panel.service_id == service_id and (str(panel.id) == str(id_or_slug) or panel.slug == id_or_slug):
                return panel
        raise PanelNotFoundError(str(id_or_slug))


@dataclass
class StoredResult:
    info: FileInfo
    content: bytes
    zip_password: str
    source_url: str


@dataclass
class FilesStub(FilesService):
    """Input files with bytes on disk and a report; results stored in memory as the files context would keep them."""

    root: Path
    files: dict[int, FileInfo] = field(default_factory=dict)
    paths: dict[int, Path] = field(default_factory=dict)
    results: dict[int, StoredResult] = field(default_factory=dict)

    def storage_health(self) -> StorageHealth:
        raise NotImplementedError("jobs never probes storage")

    def input_add(
        self,
        owner_id: int,
        *,
        content: bytes = b"",
        name: str = "chr20.vcf.gz",
        status: str = "ready",
        report: dict[str, Any] | None = None,
    ) -> FileInfo:
        file_id = next(_ids)
        path = self.root / f"input-{file_id}"
        path.write_bytes(content or b"\x1f\x8b" + bytes(64))
        info = FileInfo(
            id=file_id,
            owner_id=owner_id,
            name=name,
            kind="input",
            status=status,
            size=path.stat().st_size,
            sha256=hashlib.sha256(path.read_bytes()).hexdigest(),
            job_id=None,
            result_type=None,
            validation=dict(REPORT_OK if report is None else report),
            created_at=timezone.now(),
            expires_at=None,
        )
        self.files[file_id], self.paths[file_id] = info, path
        return info

    def judge(self, file_id: int, *, status: str, report: dict[str, Any] | None = None) -> None:
        info = self.files[file_id]
        self.files[file_id] = replace(info, status=status, validation=report or info.validation)

    def file_get(self, *, file_id: int) -> FileInfo:
        try:
            return self.files[file_id]
        except KeyError:
            raise FileMissingError(str(file_id)) from None

    @contextmanager
    def file_open(self, *, file_id: int) -> Iterator[io.BufferedIOBase]:
        with self.paths[file_id].open("rb") as stream:
            yield stream

    def result_register(self, **fields: Any) -> FileInfo:
        raise NotImplementedError("the jobs context stores result bytes")

    def result_store(
        self,
        *,
        owner_id: int,
        job_id: str,
        name: str,
        result_type: str,
        source: Path,
        sha256: str,
        expires_at: datetime | None = None,
        zip_password: str = "",
        source_url: str = "",
    ) -> FileInfo:
        content = source.read_bytes()
        if hashlib.sha256(content).hexdigest() != sha256:
            raise ResultInvalidError(f"{name}: sha256 mismatch")
        for stored in self.results.values():
            if stored.info.job_id == job_id and stored.info.name == name and stored.info.sha256 == sha256:
                return stored.info
        file_id = next(_ids)
        info = FileInfo(
            id=file_id,
            owner_id=owner_id,
            name=name,
            kind="result",
            status="ready",
            size=len(content),
            sha256=sha256,
            job_id=job_id,
            result_type=result_type,
            validation=None,
            created_at=timezone.now(),
            expires_at=expires_at,
        )
        self.results[file_id] = StoredResult(info, content, zip_password, source_url)
        return info
