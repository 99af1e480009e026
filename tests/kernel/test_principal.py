"""Deployables other than users verify access tokens with the public key alone and know the caller from its claims.

The proof runs a real deployable process that was given only JWT_VERIFYING_KEY: no private key in its
environment or its var/ directory, and no users database to ask.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from django.conf import settings

from apps.users.tests.factories import user_make
from apps.users.tokens import token_pair_issue
from config.settings.profiles import rsa_private_key
from tests.servers import Server, deployable_env, server_start

pytestmark = [pytest.mark.django_db(databases=["users"]), pytest.mark.redis]


@pytest.fixture(scope="module")
def verifier(tmp_path_factory: pytest.TempPathFactory, redis_server: str) -> Iterator[tuple[Server, Path]]:
    var_dir = tmp_path_factory.mktemp("verifier")
    env = deployable_env(
        "registry",
        var_dir,
        DEPLOYABLE_URLCONF="tests.kernel.whoami_urls",
        JWT_SIGNING_KEY="",  # removed: this process never sees the private key
        JWT_VERIFYING_KEY=settings.SIMPLE_JWT["VERIFYING_KEY"],
    )
    server = server_start(env, log=var_dir / "server.log")
    yield server, var_dir
    server.stop()


def _whoami(server: Server, token: str) -> Any:
    return httpx.get(f"{server.url}/api/whoami/", headers={"Authorization": f"Bearer {token}"}, timeout=10)


def test_a_token_from_the_users_context_is_accepted_with_the_public_key_alone(verifier: tuple[Server, Path]) -> None:
    server, var_dir = verifier
    user = user_make(role="service_admin")

    reply = _whoami(server, token_pair_issue(user=user).access)

    assert reply.status_code == 200
    assert reply.json() == {"id": user.pk, "role": "service_admin", "is_staff": False, "holds_signing_key": False}
    assert not (var_dir / "secrets" / "jwt_signing_key").exists()


def test_a_token_signed_with_another_key_is_refused(verifier: tuple[Server, Path]) -> None:
    server, _ = verifier
    claims = jwt.decode(token_pair_issue(user=user_make()).access, options={"verify_signature": False})
    forged = jwt.encode(claims, rsa_private_key(), algorithm="RS256")

    reply = _whoami(server, forged)

    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "AUTHENTICATION_ERROR"


def test_a_tampered_token_is_refused(verifier: tuple[Server, Path]) -> None:
    server, _ = verifier
    header, payload, signature = token_pair_issue(user=user_make()).access.split(".")
    claims = jwt.decode(f"{header}.{payload}.{signature}", options={"verify_signature": False})
    claims["role"] = "admin"
    raised = base64.urlsafe_b64encode(json.dumps(claims).encode()).rstrip(b"=").decode()

    reply = _whoami(server, f"{header}.{raised}.{signature}")

    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "AUTHENTICATION_ERROR"


def test_an_expired_token_is_refused(verifier: tuple[Server, Path]) -> None:
    server, _ = verifier
    claims = jwt.decode(token_pair_issue(user=user_make()).access, options={"verify_signature": False})
    claims["exp"] = claims["iat"] - 60
    expired = jwt.encode(claims, settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="RS256")

    reply = _whoami(server, expired)

    assert reply.status_code == 401
    assert reply.json()["error"]["code"] == "AUTHENTICATION_ERROR"
