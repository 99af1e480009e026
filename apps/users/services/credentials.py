"""Writes of the credential vault: a user's personal API token per imputation service, stored only encrypted.

Every change runs in one transaction on the `users` alias together with its audit event, whose details name
the service and never the token. A user only ever reaches their own credentials: another user's id is a 404.
Reading a token back in clear is for the jobs context alone (`credential_token_read`), and is audited too.
"""

from __future__ import annotations

from datetime import datetime
from enum import Enum
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.kernel.errors import ApplicationError, ConflictError, NotFoundError, ServiceUnavailableError
from apps.users.events import ClientInfo, user_action_record
from apps.users.models import DB, ServiceCredential, User
from apps.users.selectors.credentials import NOT_FOUND_MESSAGE, credential_is_expired
from apps.users.vault import vault_decrypt, vault_encrypt

TOKEN_MAX = 4096  # far above any real API token (JWTs included), small enough to refuse junk
LABEL_MAX = 100  # ServiceCredential.label
LAST4_MIN_LENGTH = 16  # a shorter token shows no hint: its last four characters would be too much of it
SERVICE_ID_MAX = 2**63 - 1  # the column is a (positive) bigint


class CredentialMissingError(NotFoundError):
    """The owner has no credential for the service a job needs."""


class CredentialExpiredError(ConflictError):
    """The credential exists but is past the expiry its owner gave it: 409, fixed by replacing the token."""


class _Unset(Enum):
    UNSET = "unset"


UNSET = _Unset.UNSET  # "leave as is" for credential_update, where None means "no expiry"


def _token_clean(token: str) -> str:
    """The token without the surrounding whitespace a paste often brings; blank or oversized ones are refused."""
    cleaned = token.strip()
    if not cleaned:
        raise ApplicationError("The token may not be blank.", details={"token": ["The token may not be blank."]})
    if len(cleaned) > TOKEN_MAX:
        message = f"The token is longer than {TOKEN_MAX} characters."
        raise ApplicationError(message, details={"token": [message]})
    return cleaned


def _token_hint(token: str) -> str:
    return token[-4:] if len(token) >= LAST4_MIN_LENGTH else ""


def _label_check(label: str) -> None:
    if len(label) > LABEL_MAX:
        message = f"The label is longer than {LABEL_MAX} characters."
        raise ApplicationError(message, details={"label": [message]})


def _expiry_check(expires_at: datetime | None) -> None:
    """An expiry already past would store a token no job could ever use."""
    if expires_at is not None and expires_at <= timezone.now():
        message = "The expiry must be in the future."
        raise ApplicationError(message, details={"expires_at": [message]})


def _service_id_check(service_id: int) -> None:
    if not 1 <= service_id <= SERVICE_ID_MAX:
        message = "The service id must be a positive integer."
        raise ApplicationError(message, details={"service_id": [message]})


def _token_store(credential: ServiceCredential, token: str) -> None:
    """Put a new token in place; the old verification said nothing about it."""
    credential.ciphertext = vault_encrypt(token)
    credential.last4 = _token_hint(token)
    credential.is_verified = False
    credential.last_verified_at = None


def _own_credential_lock(*, user: User, credential_id: int) -> ServiceCredential:
    credential = ServiceCredential.objects.using(DB).select_for_update().filter(user=user, pk=credential_id).first()
    if credential is None:
        raise NotFoundError(NOT_FOUND_MESSAGE)
    return credential


def _record(
    action: str, credential: ServiceCredential, *, actor_id: int | None, client: ClientInfo, **extra: Any
) -> None:
    user_action_record(
        action=action,
        actor_id=actor_id,
        client=client,
        resource_type="credential",
        resource_id=credential.pk,
        details={"service_id": credential.service_id, **extra},
    )


def credential_set(
    *,
    user: User,
    service_id: int,
    token: str,
    label: str = "",
    expires_at: datetime | None = None,
    client: ClientInfo,
) -> tuple[ServiceCredential, bool]:
    """Store the user's token for a service, replacing the one already there; True when it is a new credential.

    A replacement is a whole new credential in the same slot: label and expiry are those given, not kept.
    """
    token = _token_clean(token)
    _service_id_check(service_id)
    _label_check(label)
    _expiry_check(expires_at)
    mine = ServiceCredential.objects.using(DB).select_for_update().filter(user=user, service_id=service_id)
    with transaction.atomic(using=DB):
        credential = mine.first()
        created = credential is None
        if credential is None:
            credential = ServiceCredential(user=user, service_id=service_id)
            _token_store(credential, token)
            credential.label, credential.expires_at = label, expires_at
            try:
                with transaction.atomic(using=DB):  # a savepoint: a concurrent first set of the same pair may win
                    credential.save(using=DB)
            except IntegrityError:
                credential, created = mine.get(), False
        if not created:
            _token_store(credential, token)
            credential.label, credential.expires_at = label, expires_at
            credential.save(using=DB)
        _record("credential_set" if created else "credential_replaced", credential, actor_id=user.pk, client=client)
    return credential, created


def credential_update(
    *,
    user: User,
    credential_id: int,
    client: ClientInfo,
    label: str | _Unset = UNSET,
    token: str | _Unset = UNSET,
    expires_at: datetime | _Unset | None = UNSET,
) -> ServiceCredential:
    """Change what is given of the user's own credential; a new token clears the earlier verification."""
    if not isinstance(token, _Unset):
        token = _token_clean(token)
    if not isinstance(label, _Unset):
        _label_check(label)
    if not isinstance(expires_at, _Unset):
        _expiry_check(expires_at)
    with transaction.atomic(using=DB):
        credential = _own_credential_lock(user=user, credential_id=credential_id)
        changed = []
        if not isinstance(label, _Unset) and label != credential.label:
            credential.label = label
            changed.append("label")
        if not isinstance(expires_at, _Unset) and expires_at != credential.expires_at:
            credential.expires_at = expires_at
            changed.append("expires_at")
        if not isinstance(token, _Unset):
            _token_store(credential, token)
            changed.append("token")
        if changed:
            credential.save(using=DB)
            _record("credential_updated", credential, actor_id=user.pk, client=client, changed=changed)
    return credential


def credential_delete(*, user: User, credential_id: int, client: ClientInfo) -> None:
    with transaction.atomic(using=DB):
        credential = _own_credential_lock(user=user, credential_id=credential_id)
        _record("credential_deleted", credential, actor_id=user.pk, client=client)
        credential.delete(using=DB)


def credential_revoke(*, actor: User, credential_id: int, client: ClientInfo) -> None:
    """An administrator removes someone's credential (say, a token reported leaked); audited as the admin's act."""
    with transaction.atomic(using=DB):
        credential = ServiceCredential.objects.using(DB).select_for_update().filter(pk=credential_id).first()
        if credential is None:
            raise NotFoundError(NOT_FOUND_MESSAGE)
        _record("credential_revoked", credential, actor_id=actor.pk, client=client, owner_id=credential.user_id)
        credential.delete(using=DB)


def service_token_check(*, service_id: int, token: str) -> bool:
    """Whether the service accepts the token: the one place the connectors plug a real check into.

    Until a connector for the service's protocol is installed there is nothing to ask, and saying so is
    more honest than calling every token valid.
    """
    raise ServiceUnavailableError("Verifying tokens is not available yet for this service: no connector is installed.")


def credential_verify(*, user: User, credential_id: int, client: ClientInfo) -> ServiceCredential:
    """Ask the service whether the user's own token works, and remember the answer.

    The service is asked outside any transaction (no lock is held across the network); the answer is only
    stored when the token was not replaced in the meantime.
    """
    credential = ServiceCredential.objects.using(DB).filter(user=user, pk=credential_id).first()
    if credential is None:
        raise NotFoundError(NOT_FOUND_MESSAGE)
    if credential_is_expired(credential):
        raise CredentialExpiredError("The credential has expired; replace the token before verifying it.")
    checked = credential.ciphertext
    accepted = service_token_check(service_id=credential.service_id, token=vault_decrypt(checked))
    with transaction.atomic(using=DB):
        credential = _own_credential_lock(user=user, credential_id=credential_id)
        if credential.ciphertext != checked:
            raise ConflictError("The token was replaced while it was being verified; verify again.")
        now = timezone.now()
        ServiceCredential.objects.using(DB).filter(pk=credential.pk).update(is_verified=accepted, last_verified_at=now)
        credential.is_verified, credential.last_verified_at = accepted, now
        _record("credential_verified", credential, actor_id=user.pk, client=client, accepted=accepted)
    return credential


def credential_token_read(*, owner_id: int, service_id: int, job_id: str, reader: str) -> str:
    """The owner's token for a service in clear, for the job about to use it; refused when missing or expired.

    Audited as done by the owner (the job acts with its owner's authority), naming the job and the reading
    component, so the owner's trail shows every use of their token.
    """
    with transaction.atomic(using=DB):
        credential = (
            ServiceCredential.objects.using(DB)
            .select_for_update()
            .filter(user_id=owner_id, service_id=service_id)
            .first()
        )
        if credential is None:
            raise CredentialMissingError(
                f"No token is stored for service {service_id}; add one under Settings > Service credentials."
            )
        if credential_is_expired(credential):
            raise CredentialExpiredError(
                f"The token for service {service_id} has expired; replace it under Settings > Service credentials."
            )
        token = vault_decrypt(credential.ciphertext)
        if _read_is_news(credential, job_id=str(job_id)):
            ServiceCredential.objects.using(DB).filter(pk=credential.pk).update(last_used_at=timezone.now())
            _record(
                "credential_read",
                credential,
                actor_id=owner_id,
                client=ClientInfo(),
                job_id=str(job_id)[:64],
                reader=str(reader)[:64],
            )
    return token


def _read_is_news(credential: ServiceCredential, *, job_id: str) -> bool:
    """A job polls with its owner's token every few seconds: its reads are audited (and `last_used_at` moved) once
    per USERS_TOKEN_READ_AUDIT_SECONDS per job and token, not hundreds of times an hour; a replaced token starts
    afresh. Without the cache, every read is audited."""
    stamp = credential.updated_at.timestamp() if credential.updated_at else 0
    key = f"users:token-read:{credential.pk}:{stamp}:{job_id[:64]}"
    try:
        return bool(cache.add(key, 1, timeout=settings.USERS_TOKEN_READ_AUDIT_SECONDS))
    except Exception:
        return True
