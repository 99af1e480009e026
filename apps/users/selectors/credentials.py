"""Reads of the credential vault: a user's own credentials, as stored (ciphertext and all; renderers pick fields).

Only the owner ever reaches a credential here: another user's id reads as missing, so ids reveal nothing.
"""

from __future__ import annotations

from datetime import datetime

from django.db.models import QuerySet
from django.utils import timezone

from apps.kernel.errors import NotFoundError
from apps.users.models import DB, ServiceCredential, User

NOT_FOUND_MESSAGE = "No such credential."


def credential_list(*, user: User) -> QuerySet[ServiceCredential]:
    return ServiceCredential.objects.using(DB).filter(user=user).order_by("service_id", "pk")


def credential_get(*, user: User, credential_id: int) -> ServiceCredential:
    """The user's own credential; someone else's is a 404 exactly like one that does not exist."""
    credential = ServiceCredential.objects.using(DB).filter(user=user, pk=credential_id).first()
    if credential is None:
        raise NotFoundError(NOT_FOUND_MESSAGE)
    return credential


def credential_is_expired(credential: ServiceCredential, *, now: datetime | None = None) -> bool:
    """Past its owner-declared expiry; a credential without one never expires here (the service may still refuse it)."""
    return credential.expires_at is not None and credential.expires_at <= (now or timezone.now())
