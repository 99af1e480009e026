"""Building blocks of the files tests: access tokens without the users database, a stand-in users context for
quotas, and the tus requests through the whole stack (gateway middleware included)."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass, field
from typing import Any

from django.test import Client, TestCase
from rest_framework_simplejwt.tokens import AccessToken

from apps.files.models import DB, OutboxEvent, UploadedFile
from apps.users.public import Quotas, UserInfo, UserNotFoundError, UsersService

TUS = {"Tus-Resumable": "1.0.0"}
CHUNK_TYPE = "application/offset+octet-stream"
GIB = 1024**3


def token_of(user_id: int, *, role: str = "researcher", is_staff: bool = False) -> str:
    """An access token as the users context issues them (same claims, same key), minted without its database."""
    token = AccessToken()
    token["user_id"], token["role"], token["is_staff"] = user_id, role, is_staff
    return str(token)


def auth(user_id: int, **claims: Any) -> dict[str, str]:
    return {"Authorization": f"Bearer {token_of(user_id, **claims)}"}


@dataclass
class FakeUsers(UsersService):
    """The users context as the upload path sees it: role, activity and storage quota per user id."""

    quota: dict[int, int] = field(default_factory=dict)
    roles: dict[int, str] = field(default_factory=dict)
    calls: list[int] = field(default_factory=list)

    def user_get(self, *, user_id: int) -> UserInfo:
        self.calls.append(user_id)
        if user_id < 0:
            raise UserNotFoundError(str(user_id))
        role = self.roles.get(user_id, "researcher")
        return UserInfo(
            id=user_id,
            username=f"user{user_id}",
            email=f"user{user_id}@example.org",
            first_name="",
            last_name="",
            role=role,
            is_active=True,
            is_staff=False,
            capabilities=frozenset() if role == "viewer" else frozenset({"submit_jobs", "view_services"}),
            timezone="UTC",
            email_notifications=True,
            quotas=Quotas(monthly_jobs=100, storage_bytes=self.quota.get(user_id, 50 * GIB)),
        )

    def service_permissions(self, *, user_id: int, service_id: int) -> frozenset[str]:
        return frozenset()

    def credential_token_for_job(self, *, owner_id: int, service_id: int, job_id: str) -> str:
        raise NotImplementedError


def b64(text: str) -> str:
    return base64.b64encode(text.encode()).decode()


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def files_commits() -> Any:
    """Run on-commit callbacks of the files alias (the test's transaction never commits)."""
    return TestCase.captureOnCommitCallbacks(using=DB, execute=True)


def tus_create(client: Client, user_id: int, *, length: int, name: str = "chr20.vcf.gz", **headers: str) -> Any:
    sent = {**TUS, **auth(user_id), "Upload-Length": str(length), "Upload-Metadata": f"filename {b64(name)}"}
    return client.post("/api/files/uploads/", headers={**sent, **headers})


def tus_patch(client: Client, user_id: int, file_id: int, *, offset: int, data: bytes, **extra: Any) -> Any:
    headers = {**TUS, **auth(user_id), "Upload-Offset": str(offset)}
    with files_commits():
        return client.generic(
            "PATCH", f"/api/files/uploads/{file_id}/", data, content_type=CHUNK_TYPE, headers=headers, **extra
        )


def tus_head(client: Client, user_id: int, file_id: int) -> Any:
    return client.head(f"/api/files/uploads/{file_id}/", headers={**TUS, **auth(user_id)})


def upload(client: Client, user_id: int, data: bytes, *, name: str = "chr20.vcf.gz", chunk: int = 1 << 20) -> int:
    """A whole tus upload in chunks; returns the file id."""
    file_id = int(tus_create(client, user_id, length=len(data), name=name).json()["id"])
    for offset in range(0, len(data), chunk):
        reply = tus_patch(client, user_id, file_id, offset=offset, data=data[offset : offset + chunk])
        assert reply.status_code == 204, reply.content
    return file_id


def stored(file_id: int) -> UploadedFile:
    return UploadedFile.objects.using(DB).get(pk=file_id)


def events() -> list[dict[str, Any]]:
    return [{"topic": event.topic, **event.payload} for event in OutboxEvent.objects.using(DB).order_by("seq")]


def error(code: str, message: str) -> dict[str, Any]:
    return {"code": code, "message": message}
