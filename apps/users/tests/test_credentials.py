"""The credential vault: /api/credentials/ through the gateway, the jobs' token read, key rotation and the admin.

The token is written once and never comes back: not in a body, a log record, an event or the database in clear.
"""

from __future__ import annotations

import io
import json
import logging
import uuid
from datetime import datetime, timedelta
from typing import Any

import pytest
from cryptography.fernet import Fernet
from django.core.management import CommandError, call_command
from django.db import connections
from django.test import Client
from django.utils import timezone

from apps.users.events import ClientInfo
from apps.users.models import OutboxEvent, ServiceCredential, User
from apps.users.services.credentials import (
    CredentialExpiredError,
    CredentialMissingError,
    credential_set,
    credential_token_read,
)
from apps.users.tests.factories import bearer, login, user_make
from apps.users.vault import vault_decrypt

pytestmark = pytest.mark.django_db(databases=["users"])

KEY_A = Fernet.generate_key().decode()
KEY_B = Fernet.generate_key().decode()
KEY_C = Fernet.generate_key().decode()
TOKEN = "cgn-TOKEN-9f1c7e3ab5d24e68b0a4f7c2d9e1b3a5"  # distinctive: any leak of it is unmistakable
OTHER_TOKEN = "cgn-other-2b4d6f8h0j2l4n6p8r0t2v4x6z8"
NOT_FOUND = {"code": "NOT_FOUND", "message": "No such credential."}
STATIC_WITHOUT_MANIFEST = "django.contrib.staticfiles.storage.StaticFilesStorage"  # admin pages without collectstatic
VERIFY_UNAVAILABLE = "Verifying tokens is not available yet for this service: no connector is installed."


@pytest.fixture(autouse=True)
def vault_key_a(settings: Any) -> None:
    settings.USERS_VAULT_KEYS = [KEY_A]


def _signed_in(user: User) -> tuple[Client, dict[str, str]]:
    client = Client()
    return client, bearer(login(client, user.username).json()["access"])


def _send(client: Client, method: str, path: str, headers: dict[str, str], body: dict[str, Any] | None = None) -> Any:
    if body is None:
        return getattr(client, method)(path, headers=headers)
    return getattr(client, method)(path, json.dumps(body), content_type="application/json", headers=headers)


def _iso(moment: datetime | None) -> str | None:
    """How the API renders a time (DRF's ISO 8601 with Z)."""
    return None if moment is None else moment.isoformat().replace("+00:00", "Z")


def _stored(user: User, service_id: int, token: str = TOKEN, **fields: Any) -> ServiceCredential:
    credential, _ = credential_set(user=user, service_id=service_id, token=token, client=ClientInfo(), **fields)
    return credential


def _body_of(credential: ServiceCredential, **overrides: Any) -> dict[str, Any]:
    credential.refresh_from_db()
    body = {
        "id": credential.pk,
        "service_id": credential.service_id,
        "label": credential.label,
        "has_token": True,
        "token_last4": credential.last4 or None,
        "is_verified": credential.is_verified,
        "last_verified_at": _iso(credential.last_verified_at),
        "last_used_at": _iso(credential.last_used_at),
        "expires_at": _iso(credential.expires_at),
        "is_expired": False,
        "created_at": _iso(credential.created_at),
        "updated_at": _iso(credential.updated_at),
    }
    return {**body, **overrides}


def _credential_events() -> list[dict[str, Any]]:
    return [
        event.payload
        for event in OutboxEvent.objects.using("users").order_by("seq")
        if event.payload["action"].startswith("credential")
    ]


def _expire(credential: ServiceCredential) -> None:
    ServiceCredential.objects.filter(pk=credential.pk).update(expires_at=timezone.now() - timedelta(minutes=1))


# --- the API ----------------------------------------------------------------------------------------------


@pytest.mark.redis
def test_setting_a_token_answers_201_with_the_credential_but_not_the_token() -> None:
    user = user_make()
    client, headers = _signed_in(user)
    expires_at = (timezone.now() + timedelta(days=30)).replace(microsecond=0)

    response = _send(
        client,
        "post",
        "/api/credentials/",
        headers,
        {"service_id": 3, "token": f"  {TOKEN}\n", "label": "MIS work account", "expires_at": _iso(expires_at)},
    )

    assert response.status_code == 201
    credential = ServiceCredential.objects.get(user=user)
    assert response.json() == _body_of(credential)
    assert response.json()["label"] == "MIS work account"
    assert response.json()["token_last4"] == TOKEN[-4:]
    assert response.json()["expires_at"] == _iso(expires_at)
    assert vault_decrypt(credential.ciphertext) == TOKEN  # stored without the pasted whitespace
    assert _credential_events() == [
        {
            "actor_id": user.pk,
            "action": "credential_set",
            "resource_type": "credential",
            "resource_id": str(credential.pk),
            "ip": "127.0.0.1",
            "user_agent": "",
            "details": {"service_id": 3},
        }
    ]


@pytest.mark.redis
def test_setting_it_again_replaces_it_in_place_with_200() -> None:
    user = user_make()
    client, headers = _signed_in(user)
    first = _send(client, "post", "/api/credentials/", headers, {"service_id": 3, "token": TOKEN, "label": "old"})
    ServiceCredential.objects.filter(pk=first.json()["id"]).update(is_verified=True, last_verified_at=timezone.now())

    second = _send(client, "post", "/api/credentials/", headers, {"service_id": 3, "token": OTHER_TOKEN})

    assert second.status_code == 200
    credential = ServiceCredential.objects.get(user=user)
    assert second.json() == _body_of(credential)
    assert (second.json()["id"], second.json()["label"], second.json()["token_last4"]) == (
        first.json()["id"],
        "",
        OTHER_TOKEN[-4:],
    )
    assert (second.json()["is_verified"], second.json()["last_verified_at"]) == (False, None)
    assert vault_decrypt(credential.ciphertext) == OTHER_TOKEN
    assert [event["action"] for event in _credential_events()] == ["credential_set", "credential_replaced"]


@pytest.mark.redis
def test_the_list_holds_only_the_callers_own_credentials_in_the_page_shape() -> None:
    user, someone = user_make(), user_make()
    mine = [_stored(user, 5, label="TOPMed"), _stored(user, 2, label="MIS")]
    _stored(someone, 2)
    client, headers = _signed_in(user)

    response = client.get("/api/credentials/", headers=headers)

    assert response.status_code == 200
    assert response.json() == {
        "count": 2,
        "next": None,
        "previous": None,
        "results": [_body_of(mine[1]), _body_of(mine[0])],
    }


@pytest.mark.redis
def test_one_credential_reads_as_its_body() -> None:
    user = user_make()
    credential = _stored(user, 4, label="H3Africa")
    client, headers = _signed_in(user)

    response = client.get(f"/api/credentials/{credential.pk}/", headers=headers)

    assert response.status_code == 200
    assert response.json() == _body_of(credential)


@pytest.mark.redis
def test_patch_changes_label_and_expiry_and_a_new_token_clears_the_verification() -> None:
    user = user_make()
    credential = _stored(user, 4, label="old label")
    ServiceCredential.objects.filter(pk=credential.pk).update(is_verified=True, last_verified_at=timezone.now())
    client, headers = _signed_in(user)
    expires_at = (timezone.now() + timedelta(days=7)).replace(microsecond=0)

    response = _send(
        client,
        "patch",
        f"/api/credentials/{credential.pk}/",
        headers,
        {"label": "new label", "token": OTHER_TOKEN, "expires_at": _iso(expires_at)},
    )

    assert response.status_code == 200
    assert response.json() == _body_of(credential)
    assert (response.json()["label"], response.json()["expires_at"], response.json()["token_last4"]) == (
        "new label",
        _iso(expires_at),
        OTHER_TOKEN[-4:],
    )
    assert (response.json()["is_verified"], response.json()["last_verified_at"]) == (False, None)
    assert vault_decrypt(credential.ciphertext) == OTHER_TOKEN
    assert _credential_events()[-1]["action"] == "credential_updated"
    assert _credential_events()[-1]["details"] == {"service_id": 4, "changed": ["label", "expires_at", "token"]}


@pytest.mark.redis
def test_patch_with_a_null_expiry_removes_it_and_keeps_the_verification() -> None:
    user = user_make()
    credential = _stored(user, 4, expires_at=timezone.now() + timedelta(days=1))
    ServiceCredential.objects.filter(pk=credential.pk).update(is_verified=True)
    client, headers = _signed_in(user)

    response = _send(client, "patch", f"/api/credentials/{credential.pk}/", headers, {"expires_at": None})

    assert response.status_code == 200
    assert (response.json()["expires_at"], response.json()["is_verified"]) == (None, True)
    assert _credential_events()[-1]["details"] == {"service_id": 4, "changed": ["expires_at"]}


@pytest.mark.redis
def test_delete_answers_204_removes_the_row_and_records_it() -> None:
    user = user_make()
    credential = _stored(user, 6)
    client, headers = _signed_in(user)

    response = client.delete(f"/api/credentials/{credential.pk}/", headers=headers)

    assert response.status_code == 204
    assert response.content == b""
    assert not ServiceCredential.objects.filter(pk=credential.pk).exists()
    assert _credential_events()[-1] == {
        "actor_id": user.pk,
        "action": "credential_deleted",
        "resource_type": "credential",
        "resource_id": str(credential.pk),
        "ip": "127.0.0.1",
        "user_agent": "",
        "details": {"service_id": 6},
    }


@pytest.mark.redis
@pytest.mark.parametrize(
    ("method", "suffix", "body"),
    [
        ("get", "", None),
        ("patch", "", {"label": "mine now"}),
        ("delete", "", None),
        ("post", "verify/", None),
    ],
    ids=["get", "patch", "delete", "verify"],
)
def test_another_users_credential_is_not_found_and_untouched(method: str, suffix: str, body: Any) -> None:
    owner = user_make()
    credential = _stored(owner, 8, label="owner's")
    client, headers = _signed_in(user_make())
    events_before = len(_credential_events())

    response = _send(client, method, f"/api/credentials/{credential.pk}/{suffix}", headers, body)

    assert response.status_code == 404
    assert response.json() == {"error": NOT_FOUND, "request_id": response["X-Request-ID"]}
    assert ServiceCredential.objects.get(pk=credential.pk).label == "owner's"
    assert len(_credential_events()) == events_before


@pytest.mark.redis
def test_an_id_that_does_not_exist_answers_the_same_404() -> None:
    client, headers = _signed_in(user_make())

    response = client.get("/api/credentials/987654/", headers=headers)

    assert response.status_code == 404
    assert response.json()["error"] == NOT_FOUND


@pytest.mark.redis
@pytest.mark.parametrize(
    ("token", "problem"),
    [
        ("", "This field may not be blank."),
        ("  \n\t ", "This field may not be blank."),
        ("t" * 4097, "Ensure this field has no more than 4096 characters."),
    ],
    ids=["empty", "whitespace", "4097-chars"],
)
def test_a_blank_or_oversized_token_is_refused_naming_the_field(token: str, problem: str) -> None:
    user = user_make()
    credential = _stored(user, 1)
    client, headers = _signed_in(user)

    created = _send(client, "post", "/api/credentials/", headers, {"service_id": 2, "token": token})
    patched = _send(client, "patch", f"/api/credentials/{credential.pk}/", headers, {"token": token})

    for response in (created, patched):
        assert response.status_code == 400
        assert response.json()["error"] == {
            "code": "VALIDATION_ERROR",
            "message": "Invalid input.",
            "details": {"token": [problem]},
        }
    assert list(ServiceCredential.objects.values_list("service_id", flat=True)) == [1]
    assert vault_decrypt(ServiceCredential.objects.get().ciphertext) == TOKEN


@pytest.mark.redis
def test_a_token_of_exactly_4096_characters_is_accepted() -> None:
    client, headers = _signed_in(user_make())

    response = _send(client, "post", "/api/credentials/", headers, {"service_id": 2, "token": "t" * 4096})

    assert response.status_code == 201
    assert vault_decrypt(ServiceCredential.objects.get().ciphertext) == "t" * 4096


@pytest.mark.redis
def test_a_missing_token_or_service_and_a_past_expiry_are_refused_naming_each_field() -> None:
    client, headers = _signed_in(user_make())
    past = _iso(timezone.now() - timedelta(hours=1))

    missing = _send(client, "post", "/api/credentials/", headers, {"label": "x"})
    expired = _send(client, "post", "/api/credentials/", headers, {"service_id": 2, "token": TOKEN, "expires_at": past})

    assert missing.status_code == 400
    assert missing.json()["error"]["details"] == {
        "service_id": ["This field is required."],
        "token": ["This field is required."],
    }
    assert expired.status_code == 400
    assert expired.json()["error"] == {
        "code": "VALIDATION_ERROR",
        "message": "The expiry must be in the future.",
        "details": {"expires_at": ["The expiry must be in the future."]},
    }
    assert not ServiceCredential.objects.exists()


@pytest.mark.redis
def test_a_short_token_shows_no_last_four() -> None:
    client, headers = _signed_in(user_make())

    response = _send(client, "post", "/api/credentials/", headers, {"service_id": 2, "token": "short-tok"})

    assert response.status_code == 201
    assert response.json()["token_last4"] is None
    assert response.json()["has_token"] is True


@pytest.mark.redis
def test_an_expired_credential_is_listed_as_expired() -> None:
    user = user_make()
    credential = _stored(user, 2)
    _expire(credential)
    client, headers = _signed_in(user)

    response = client.get(f"/api/credentials/{credential.pk}/", headers=headers)

    assert response.json() == _body_of(credential, is_expired=True)


@pytest.mark.redis
def test_verify_answers_503_saying_no_connector_is_installed() -> None:
    user = user_make()
    credential = _stored(user, 2)
    client, headers = _signed_in(user)

    response = client.post(f"/api/credentials/{credential.pk}/verify/", headers=headers)

    assert response.status_code == 503
    assert response.json() == {
        "error": {"code": "SERVICE_UNAVAILABLE", "message": VERIFY_UNAVAILABLE},
        "request_id": response["X-Request-ID"],
    }
    assert ServiceCredential.objects.get().is_verified is False
    assert [event["action"] for event in _credential_events()] == ["credential_set"]


@pytest.mark.redis
def test_verifying_an_expired_credential_is_a_conflict() -> None:
    user = user_make()
    credential = _stored(user, 2)
    _expire(credential)
    client, headers = _signed_in(user)

    response = client.post(f"/api/credentials/{credential.pk}/verify/", headers=headers)

    assert response.status_code == 409
    assert response.json()["error"] == {
        "code": "CONFLICT",
        "message": "The credential has expired; replace the token before verifying it.",
    }


@pytest.mark.redis
def test_verify_stores_the_services_answer_once_a_connector_checks_tokens(monkeypatch: pytest.MonkeyPatch) -> None:
    checked: list[tuple[int, str]] = []

    def accepts(*, service_id: int, token: str) -> bool:
        checked.append((service_id, token))
        return True

    monkeypatch.setattr("apps.users.services.credentials.service_token_check", accepts)
    user = user_make()
    credential = _stored(user, 2)
    client, headers = _signed_in(user)

    response = client.post(f"/api/credentials/{credential.pk}/verify/", headers=headers)

    assert response.status_code == 200
    assert checked == [(2, TOKEN)]
    assert response.json() == _body_of(credential)
    assert response.json()["is_verified"] is True
    assert response.json()["last_verified_at"] is not None
    assert _credential_events()[-1]["action"] == "credential_verified"
    assert _credential_events()[-1]["details"] == {"service_id": 2, "accepted": True}


@pytest.mark.redis
def test_the_endpoints_need_a_signed_in_user() -> None:
    response = Client().get("/api/credentials/")

    assert response.status_code == 401
    assert response.json()["error"]["code"] == "AUTHENTICATION_ERROR"


@pytest.mark.redis
def test_the_token_appears_in_no_response_no_log_record_and_no_event(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    user = user_make()
    client, headers = _signed_in(user)
    stranger_credential = _stored(user_make(), 9, token=OTHER_TOKEN)
    body = {"service_id": 3, "token": TOKEN, "label": "leak check"}

    created = _send(client, "post", "/api/credentials/", headers, body)
    pk = created.json()["id"]
    calls = [  # (expected status, response): every endpoint, successes and errors alike
        (201, created),
        (200, _send(client, "post", "/api/credentials/", headers, body)),
        (400, _send(client, "post", "/api/credentials/", headers, {**body, "token": TOKEN * 200})),
        (400, _send(client, "post", "/api/credentials/", headers, {**body, "service_id": -1})),
        (200, client.get("/api/credentials/", headers=headers)),
        (200, client.get(f"/api/credentials/{pk}/", headers=headers)),
        (200, _send(client, "patch", f"/api/credentials/{pk}/", headers, {"label": "renamed", "token": TOKEN})),
        (400, _send(client, "patch", f"/api/credentials/{pk}/", headers, {"token": TOKEN, "expires_at": "yesterday"})),
        (503, client.post(f"/api/credentials/{pk}/verify/", headers=headers)),
        (404, client.get(f"/api/credentials/{stranger_credential.pk}/", headers=headers)),
        (404, client.post(f"/api/credentials/{stranger_credential.pk}/verify/", headers=headers)),
    ]
    read = credential_token_read(owner_id=user.pk, service_id=3, job_id="job-1", reader="jobs")
    calls.append((204, client.delete(f"/api/credentials/{pk}/", headers=headers)))
    responses = [response for _, response in calls]

    assert read == TOKEN
    assert [response.status_code for response in responses] == [status for status, _ in calls]
    formatter = logging.Formatter()
    for response in responses:
        assert TOKEN not in response.content.decode()
    assert caplog.records, "the requests were expected to log something at DEBUG"
    for record in caplog.records:
        assert TOKEN not in formatter.format(record)
        assert TOKEN not in repr(record.__dict__)
    events = list(OutboxEvent.objects.using("users").values_list("payload", flat=True))
    assert len(events) >= 6
    for payload in events:
        assert TOKEN not in json.dumps(payload)
        assert OTHER_TOKEN not in json.dumps(payload)


def test_the_database_column_holds_ciphertext_that_opens_to_the_token() -> None:
    credential = _stored(user_make(), 3)

    with connections["users"].cursor() as cursor:
        cursor.execute("SELECT * FROM users_servicecredential WHERE id = %s", [credential.pk])
        row = cursor.fetchone()
        columns = [column[0] for column in cursor.description]
    stored = dict(zip(columns, row, strict=True))

    assert TOKEN not in repr(row)
    assert stored["last4"] == TOKEN[-4:]
    assert Fernet(KEY_A).decrypt(stored["ciphertext"].encode()).decode() == TOKEN


# --- the jobs' token read ---------------------------------------------------------------------------------


def test_a_job_reads_the_owners_token_once_audited_without_the_token() -> None:
    owner = user_make()
    credential = _stored(owner, 7)
    before = timezone.now()

    token = credential_token_read(owner_id=owner.pk, service_id=7, job_id="job-42", reader="jobs.orchestrator")

    assert token == TOKEN
    credential.refresh_from_db()
    assert credential.last_used_at is not None
    assert credential.last_used_at >= before
    reads = [event for event in _credential_events() if event["action"] == "credential_read"]
    assert reads == [
        {
            "actor_id": owner.pk,
            "action": "credential_read",
            "resource_type": "credential",
            "resource_id": str(credential.pk),
            "ip": "",
            "user_agent": "",
            "details": {"service_id": 7, "job_id": "job-42", "reader": "jobs.orchestrator"},
        }
    ]
    assert TOKEN not in json.dumps(reads)


@pytest.mark.redis
def test_a_polling_job_is_audited_once_per_period_and_each_job_on_its_own(settings: Any) -> None:
    settings.USERS_TOKEN_READ_AUDIT_SECONDS = 60
    owner = user_make()
    _stored(owner, 7)
    job, other = f"job-{uuid.uuid4().hex[:8]}", f"job-{uuid.uuid4().hex[:8]}"

    for _ in range(5):
        assert credential_token_read(owner_id=owner.pk, service_id=7, job_id=job, reader="jobs") == TOKEN
    credential_token_read(owner_id=owner.pk, service_id=7, job_id=other, reader="jobs")

    reads = [event["details"]["job_id"] for event in _credential_events() if event["action"] == "credential_read"]
    assert sorted(reads) == sorted([job, other])


def test_a_job_whose_owner_has_no_credential_for_the_service_is_refused() -> None:
    owner = user_make()
    _stored(owner, 7)

    with pytest.raises(CredentialMissingError) as excinfo:
        credential_token_read(owner_id=owner.pk, service_id=8, job_id="job-43", reader="jobs")

    assert (excinfo.value.status, excinfo.value.code) == (404, "NOT_FOUND")
    assert excinfo.value.message == "No token is stored for service 8; add one under Settings > Service credentials."
    assert [event["action"] for event in _credential_events()] == ["credential_set"]


def test_an_expired_credential_is_refused_to_a_job_and_not_marked_used() -> None:
    owner = user_make()
    credential = _stored(owner, 7)
    _expire(credential)

    with pytest.raises(CredentialExpiredError) as excinfo:
        credential_token_read(owner_id=owner.pk, service_id=7, job_id="job-44", reader="jobs")

    assert (excinfo.value.status, excinfo.value.code) == (409, "CONFLICT")
    assert excinfo.value.message == (
        "The token for service 7 has expired; replace it under Settings > Service credentials."
    )
    credential.refresh_from_db()
    assert credential.last_used_at is None
    assert [event["action"] for event in _credential_events()] == ["credential_set"]


# --- rotation ---------------------------------------------------------------------------------------------


def _rotate(**options: Any) -> str:
    out = io.StringIO()
    call_command("users_vault_rotate", stdout=out, **options)
    return out.getvalue()


def test_rotation_moves_every_row_to_the_new_key_so_the_old_one_can_go(settings: Any) -> None:
    user = user_make()
    tokens = {service_id: f"{TOKEN}-{service_id}" for service_id in (1, 2, 3)}
    for service_id, token in tokens.items():
        _stored(user, service_id, token=token)
    before = dict(ServiceCredential.objects.values_list("service_id", "ciphertext"))
    settings.USERS_VAULT_KEYS = [KEY_B, KEY_A]

    output = _rotate(batch_size=2)

    assert output == "re-encrypted 3 credential(s) under the current key; 0 already were\n"
    settings.USERS_VAULT_KEYS = [KEY_B]
    after = dict(ServiceCredential.objects.values_list("service_id", "ciphertext"))
    assert {service_id: vault_decrypt(cipher) for service_id, cipher in after.items()} == tokens
    assert all(after[service_id] != before[service_id] for service_id in tokens)
    reencrypted = [event for event in _credential_events() if event["action"] == "credential_reencrypted"]
    assert sorted(event["details"]["service_id"] for event in reencrypted) == [1, 2, 3]
    assert all(event["actor_id"] is None for event in reencrypted)


def test_a_second_rotation_changes_nothing(settings: Any) -> None:
    user = user_make()
    _stored(user, 1)
    _stored(user, 2, token=OTHER_TOKEN)
    settings.USERS_VAULT_KEYS = [KEY_B, KEY_A]
    _rotate()
    after_first = dict(ServiceCredential.objects.values_list("pk", "ciphertext"))

    output = _rotate()

    assert output == "re-encrypted 0 credential(s) under the current key; 2 already were\n"
    assert dict(ServiceCredential.objects.values_list("pk", "ciphertext")) == after_first
    settings.USERS_VAULT_KEYS = [KEY_B]
    assert sorted(vault_decrypt(cipher) for cipher in after_first.values()) == sorted([TOKEN, OTHER_TOKEN])


def test_a_row_no_key_opens_fails_the_rotation_by_id_and_is_left_unchanged(settings: Any) -> None:
    user = user_make()
    readable = _stored(user, 1)
    settings.USERS_VAULT_KEYS = [KEY_C]
    orphan = _stored(user, 2, token=OTHER_TOKEN)  # encrypted with a key the next configuration lacks
    orphan_cipher = orphan.ciphertext
    settings.USERS_VAULT_KEYS = [KEY_B, KEY_A]
    out = io.StringIO()

    with pytest.raises(CommandError) as excinfo:
        call_command("users_vault_rotate", stdout=out)

    assert str(excinfo.value) == (
        f"1 credential(s) could not be decrypted with any key in USERS_VAULT_KEYS and were left unchanged "
        f"(ids {orphan.pk}). List the key they were encrypted with after the current one and run again, "
        "or delete them so their owners set new tokens."
    )
    assert out.getvalue() == "re-encrypted 1 credential(s) under the current key; 0 already were\n"
    orphan.refresh_from_db()
    readable_cipher = ServiceCredential.objects.get(pk=readable.pk).ciphertext
    assert orphan.ciphertext == orphan_cipher
    assert readable_cipher != readable.ciphertext
    assert vault_decrypt(readable_cipher) == TOKEN


# --- the admin --------------------------------------------------------------------------------------------


def test_the_admin_shows_the_credential_but_never_its_ciphertext_and_allows_no_edit(settings: Any) -> None:
    settings.STORAGES = {**settings.STORAGES, "staticfiles": {"BACKEND": STATIC_WITHOUT_MANIFEST}}
    credential = _stored(user_make(), 3, label="visible label")
    admin = user_make(role="admin", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)

    listing = client.get("/admin/users/servicecredential/")
    detail = client.get(f"/admin/users/servicecredential/{credential.pk}/change/")
    edit = client.post(f"/admin/users/servicecredential/{credential.pk}/change/", {"label": "changed"})
    add = client.get("/admin/users/servicecredential/add/")

    assert (listing.status_code, detail.status_code) == (200, 200)
    for page in (listing, detail):
        html = page.content.decode()
        assert "visible label" in html
        assert credential.ciphertext not in html
        assert TOKEN not in html
    assert "ciphertext" not in detail.content.decode().lower()
    assert edit.status_code == 403
    assert add.status_code == 403
    assert ServiceCredential.objects.get(pk=credential.pk).label == "visible label"


def test_an_admin_deleting_a_credential_records_a_revocation() -> None:
    owner = user_make()
    credential = _stored(owner, 3)
    admin = user_make(role="admin", is_staff=True, is_superuser=True)
    client = Client()
    client.force_login(admin)

    response = client.post(f"/admin/users/servicecredential/{credential.pk}/delete/", {"post": "yes"})

    assert response.status_code == 302
    assert not ServiceCredential.objects.filter(pk=credential.pk).exists()
    assert _credential_events()[-1] == {
        "actor_id": admin.pk,
        "action": "credential_revoked",
        "resource_type": "credential",
        "resource_id": str(credential.pk),
        "ip": "127.0.0.1",
        "user_agent": "",
        "details": {"service_id": 3, "owner_id": owner.pk},
    }
