"""Building blocks of the users tests: accounts made through the services, and calls through the whole stack."""

from __future__ import annotations

import json
import uuid
from typing import Any

from django.db import transaction
from django.test import Client

from apps.users.models import OutboxEvent, User
from apps.users.services.accounts import user_create

PASSWORD = "plum-orchard-velvet-42"
LETTERS_FOR_DIGITS = str.maketrans("0123456789", "ghijklmnop")


def user_make(*, role: str = "researcher", password: str = PASSWORD, **fields: Any) -> User:
    # letters only: a digit-heavy random name could resemble a numeric test password (similarity validator)
    fields.setdefault("username", "user-" + uuid.uuid4().hex[:8].translate(LETTERS_FOR_DIGITS))
    fields.setdefault("email", f"{fields['username']}@example.org")
    is_active = fields.pop("is_active", True)
    with transaction.atomic(using="users"):
        user = user_create(password=password, role=role, **fields)
    if not is_active:
        User.objects.using("users").filter(pk=user.pk).update(is_active=False)
        user.refresh_from_db()
    return user


def post(client: Client, path: str, body: dict[str, Any], **headers: str) -> Any:
    return client.post(path, json.dumps(body), content_type="application/json", headers=headers)


def login(client: Client, username: str, password: str = PASSWORD, **headers: str) -> Any:
    return post(client, "/api/auth/login/", {"username": username, "password": password}, **headers)


def bearer(access: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {access}"}


def actions() -> list[str]:
    """The actions recorded in the users outbox, oldest first."""
    return [event.payload["action"] for event in OutboxEvent.objects.using("users").order_by("seq")]
