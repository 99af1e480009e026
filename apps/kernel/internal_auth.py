"""Short-lived signed tokens for calls between the platform's own deployables.

A deployable calling another signs a token (HS256 with INTERNAL_SERVICE_KEY) naming itself as issuer and
the callee as audience, valid for seconds; the callee verifies issuer, audience, expiry and lifetime. It is
not a user credential: user identity travels separately (the user's JWT or fields in the call).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta

import jwt
from django.conf import settings
from django.http import HttpRequest
from django.utils import timezone
from rest_framework.authentication import BaseAuthentication
from rest_framework.exceptions import AuthenticationFailed

INTERNAL_TOKEN_HEADER = "X-Internal-Token"  # noqa: S105 (a header name, not a secret)
MAX_TTL_SECONDS = 300
_ALGORITHM = "HS256"


class InternalTokenError(Exception):
    """The internal token is missing, forged, expired, too long-lived or meant for someone else."""


@dataclass(frozen=True)
class InternalCaller:
    """The deployable on the other end of an internal call; quacks enough like a user for DRF."""

    issuer: str
    audience: str
    token_id: str

    is_authenticated = True
    is_staff = False
    is_active = True


def internal_token_issue(*, audience: str, ttl_seconds: int = 60) -> str:
    if not 0 < ttl_seconds <= MAX_TTL_SECONDS:
        raise ValueError(f"internal tokens live 1..{MAX_TTL_SECONDS}s, not {ttl_seconds}s")
    now = timezone.now()
    claims = {
        "iss": settings.DEPLOYABLE,
        "aud": audience,
        "iat": now,
        "exp": now + timedelta(seconds=ttl_seconds),
        "jti": uuid.uuid4().hex,
    }
    return jwt.encode(claims, settings.INTERNAL_SERVICE_KEY, algorithm=_ALGORITHM)


def internal_token_verify(token: str, *, audience: str) -> InternalCaller:
    try:
        claims = jwt.decode(
            token,
            settings.INTERNAL_SERVICE_KEY,
            algorithms=[_ALGORITHM],
            audience=audience,
            options={"require": ["iss", "aud", "iat", "exp", "jti"]},
            leeway=5,
        )
    except jwt.PyJWTError as exc:
        raise InternalTokenError(f"invalid internal token: {exc}") from exc
    if claims["exp"] - claims["iat"] > MAX_TTL_SECONDS:
        raise InternalTokenError(f"internal token lives longer than {MAX_TTL_SECONDS}s")
    return InternalCaller(issuer=claims["iss"], audience=audience, token_id=claims["jti"])


class InternalServiceAuthentication(BaseAuthentication):
    """DRF authentication for internal endpoints: the token's audience must be this deployable."""

    def authenticate(self, request: HttpRequest) -> tuple[InternalCaller, str] | None:
        token = request.headers.get(INTERNAL_TOKEN_HEADER)
        if not token:
            return None
        try:
            return internal_token_verify(token, audience=settings.DEPLOYABLE), token
        except InternalTokenError as exc:
            raise AuthenticationFailed(str(exc)) from exc

    def authenticate_header(self, request: HttpRequest) -> str:
        return INTERNAL_TOKEN_HEADER
