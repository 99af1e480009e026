"""JWT validation at the edge, through the whole middleware stack: what passes, what is refused and how it is told."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import uuid
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings as django_settings
from django.test import AsyncClient
from django.utils import timezone

from tests.gateway.conftest import JOBS_TABLE, access_token

pytestmark = pytest.mark.redis

TABLE = JOBS_TABLE.format(target="app")
INVALID = "The access token is invalid."
BAD_HEADER = "Send the access token as 'Authorization: Bearer <token>'."


@pytest.fixture(autouse=True)
def jobs_table(routes_file: Callable[[str], Path], settings: Any) -> None:
    routes_file(TABLE)
    settings.GATEWAY_REDIS_PREFIX = f"test-edge-{uuid.uuid4().hex[:12]}:"  # counters of this test only


def b64url(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def b64url_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def claims(user_id: str = "7", **extra: Any) -> dict[str, Any]:
    now = timezone.now()
    return {
        "token_type": "access",
        "user_id": user_id,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(minutes=5)).timestamp()),
        "jti": "t",
        **extra,
    }


def signed_with_own_key(payload: dict[str, Any]) -> str:
    return jwt.encode(payload, django_settings.SIMPLE_JWT["SIGNING_KEY"], algorithm="RS256")


async def call(path: str = "/api/jobs/echo/", authorization: str | None = None, method: str = "get") -> Any:
    headers = {"X-Request-ID": "req-edge-test-1"}
    if authorization is not None:
        headers["Authorization"] = authorization
    return await getattr(AsyncClient(), method)(path, headers=headers)


def assert_refused(response: Any, message: str) -> None:
    assert response.status_code == 401
    assert response.json() == {
        "error": {"code": "AUTHENTICATION_ERROR", "message": message},
        "request_id": "req-edge-test-1",
    }
    assert response["WWW-Authenticate"] == 'Bearer error="invalid_token"'
    assert response["X-Request-ID"] == "req-edge-test-1"
    assert not response.has_header("X-RateLimit-Limit")  # refused before the rate limiter is consulted


# --- accepted ----------------------------------------------------------------------------------------------


async def test_a_valid_access_token_passes_and_is_forwarded() -> None:
    token = access_token(41)

    response = await call(authorization=f"Bearer {token}")

    assert response.status_code == 200
    body = response.json()
    assert (body["method"], body["path"]) == ("GET", "/api/jobs/echo/")
    assert body["headers"]["authorization"] == f"Bearer {token}"
    assert response["X-Request-ID"] == "req-edge-test-1"
    assert response["X-RateLimit-Limit"] == "1200"  # limited as a user, not as an address


async def test_the_bearer_scheme_is_case_insensitive() -> None:
    token = access_token(41)

    response = await call(authorization=f"bearer {token}")

    assert response.status_code == 200
    assert response.json()["headers"]["authorization"] == f"bearer {token}"


# --- refused: the token -----------------------------------------------------------------------------------


async def test_a_token_with_a_flipped_signature_character_is_refused() -> None:
    header, payload, signature = access_token(41).split(".")
    middle = len(signature) // 2
    flipped = signature[:middle] + ("A" if signature[middle] != "A" else "B") + signature[middle + 1 :]

    response = await call(authorization=f"Bearer {header}.{payload}.{flipped}")

    assert_refused(response, INVALID)


async def test_a_token_whose_payload_was_changed_without_re_signing_is_refused() -> None:
    header, payload, signature = access_token(41).split(".")
    forged = {**json.loads(b64url_decode(payload)), "user_id": "1"}

    response = await call(authorization=f"Bearer {header}.{b64url(json.dumps(forged).encode())}.{signature}")

    assert_refused(response, INVALID)


async def test_an_expired_token_is_refused_with_a_hint_to_refresh() -> None:
    token = access_token(41, lifetime=timedelta(seconds=-1))

    response = await call(authorization=f"Bearer {token}")

    assert_refused(response, "The access token has expired; refresh it.")


async def test_a_refresh_token_is_refused() -> None:
    token = access_token(41, token_type="refresh", lifetime=timedelta(days=1))

    response = await call(authorization=f"Bearer {token}")

    assert_refused(response, "Only an access token is accepted here.")


async def test_an_hs256_token_signed_with_the_secret_key_is_refused() -> None:
    token = jwt.encode(claims("41"), django_settings.SECRET_KEY, algorithm="HS256")

    response = await call(authorization=f"Bearer {token}")

    assert_refused(response, INVALID)


async def test_an_hs256_token_keyed_with_the_public_key_is_refused() -> None:
    """The classic algorithm confusion: HMAC keyed with the (public) verifying key's PEM."""
    public_pem = django_settings.SIMPLE_JWT["VERIFYING_KEY"]
    key = public_pem.encode() if isinstance(public_pem, str) else public_pem
    header = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}).encode())
    signing_input = f"{header}.{b64url(json.dumps(claims('41')).encode())}"
    signature = b64url(hmac.new(key, signing_input.encode(), hashlib.sha256).digest())

    response = await call(authorization=f"Bearer {signing_input}.{signature}")

    assert_refused(response, INVALID)


async def test_an_unsigned_token_is_refused() -> None:
    token = jwt.encode(claims("41"), "", algorithm="none")

    response = await call(authorization=f"Bearer {token}")

    assert_refused(response, INVALID)


async def test_a_token_signed_by_another_rsa_key_is_refused() -> None:
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    token = jwt.encode(claims("41"), other_key, algorithm="RS256")

    response = await call(authorization=f"Bearer {token}")

    assert_refused(response, INVALID)


@pytest.mark.parametrize("claim", ["user_id", "exp", "token_type"])
async def test_a_token_missing_a_required_claim_is_refused(claim: str) -> None:
    payload = claims("41")
    del payload[claim]

    response = await call(authorization=f"Bearer {signed_with_own_key(payload)}")

    assert_refused(response, INVALID)


@pytest.mark.parametrize("garbage", ["xyz", "a.b.c", "..."])
async def test_a_token_that_is_not_a_jwt_is_refused(garbage: str) -> None:
    response = await call(authorization=f"Bearer {garbage}")

    assert_refused(response, INVALID)


# --- refused: the header ----------------------------------------------------------------------------------


@pytest.mark.parametrize("authorization", ["Token xyz", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "xyz"])
async def test_an_authorization_header_not_of_the_bearer_form_is_refused(authorization: str) -> None:
    response = await call(authorization=authorization)

    assert_refused(response, BAD_HEADER)


async def test_no_authorization_header_on_a_protected_prefix_is_refused() -> None:
    response = await call()

    assert_refused(response, "Authentication credentials were not provided.")


# --- anonymous prefixes and preflights --------------------------------------------------------------------


async def test_an_anonymous_prefix_is_served_without_a_token() -> None:
    response = await call("/api/jobs/plain/")

    assert response.status_code == 200
    assert response.content == b"ok"
    assert response["X-RateLimit-Limit"] == "600"  # limited per address


async def test_an_anonymous_prefix_still_refuses_an_invalid_token() -> None:
    token = access_token(41, lifetime=timedelta(seconds=-1))

    expired = await call("/api/jobs/plain/", authorization=f"Bearer {token}")
    garbage = await call("/api/jobs/plain/", authorization="Bearer xyz")

    assert_refused(expired, "The access token has expired; refresh it.")
    assert_refused(garbage, INVALID)


async def test_an_anonymous_prefix_with_a_valid_token_is_served_as_that_user() -> None:
    response = await call("/api/jobs/plain/", authorization=f"Bearer {access_token(41)}")

    assert response.status_code == 200
    assert response.content == b"ok"
    assert response["X-RateLimit-Limit"] == "1200"  # limited as the user


async def test_a_plain_options_request_without_a_token_is_refused_like_any_other_method() -> None:
    """Only CORS preflights are answered without a token, and CorsMiddleware answers those above the gateway."""
    response = await call(method="options")

    assert response.status_code == 401
    assert response.json()["error"]["message"] == "Authentication credentials were not provided."


@pytest.mark.parametrize(
    "path",
    ["/api/jobs/plain/../echo/", "/api/jobs/plain/%2e%2e/echo/", "/api/jobs/./echo/", "/api/jobs/plain/%2E%2E/echo/"],
)
async def test_dot_segments_cannot_step_from_an_anonymous_prefix_to_a_protected_one(path: str) -> None:
    response = await AsyncClient().get(path)

    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "VALIDATION_ERROR",
        "message": "The path may not contain '.' or '..' segments.",
    }


async def test_a_cors_preflight_without_a_token_is_not_refused(settings: Any) -> None:
    settings.CORS_ALLOWED_ORIGINS = ["https://app.example.org"]

    response = await AsyncClient().options(
        "/api/jobs/echo/",
        headers={
            "Origin": "https://app.example.org",
            "Access-Control-Request-Method": "GET",
            "Access-Control-Request-Headers": "authorization",
        },
    )

    assert response.status_code == 200
    assert response.content == b""
    assert response["Access-Control-Allow-Origin"] == "https://app.example.org"
    assert not response.has_header("WWW-Authenticate")


async def test_an_options_request_with_an_invalid_token_is_refused() -> None:
    response = await call(method="options", authorization="Bearer xyz")

    assert_refused(response, INVALID)
