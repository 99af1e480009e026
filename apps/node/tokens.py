"""API tokens as Cloudgene issues them: a signed JWT carrying the user's current `api_hash`.

Garbage or expired -> 401 (the security filter); a well-signed token whose hash is no longer the user's -> 403
(revoked, or replaced by a newer token: one active token per user).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

import jwt
from django.conf import settings
from django.utils import timezone

from apps.node.models import NodeUser

_ALGORITHM = "HS256"
_AUDIENCE = "imputation-node"


@dataclass(frozen=True)
class TokenCheck:
    status: int  # 200 valid, 401 invalid or expired, 403 revoked
    message: str
    user: NodeUser | None = None
    expires_at: datetime | None = None


def token_create(user: NodeUser, *, days: int | None = None, now: datetime | None = None) -> str:
    """A new token for `user`; the previous one stops working. `days` -1 means it never expires."""
    days = settings.NODE_TOKEN_DAYS if days is None else days
    now = now or timezone.now()
    user.api_hash = secrets.token_urlsafe(22)[:30]
    user.save(update_fields=["api_hash"])
    claims: dict[str, object] = {
        "sub": user.username,
        "preferred_username": user.username,
        "api_hash": user.api_hash,
        "aud": _AUDIENCE,
        "iat": int(now.timestamp()),
    }
    if days >= 0:
        claims["exp"] = int((now + timedelta(days=days)).timestamp())
    return jwt.encode(claims, _key(), algorithm=_ALGORITHM)


def token_revoke(user: NodeUser) -> None:
    user.api_hash = ""
    user.save(update_fields=["api_hash"])


def token_check(token: str, *, now: datetime | None = None) -> TokenCheck:
    now = now or timezone.now()
    try:
        claims = jwt.decode(token, _key(), algorithms=[_ALGORITHM], audience=_AUDIENCE, options={"verify_exp": False})
    except jwt.PyJWTError:
        return TokenCheck(401, "Invalid API Token.")
    expires = claims.get("exp")
    expires_at = datetime.fromtimestamp(expires, tz=now.tzinfo) if isinstance(expires, int) else None
    if expires_at is not None and expires_at <= now:
        return TokenCheck(401, "API Token expired.", expires_at=expires_at)
    user = NodeUser.objects.filter(username=claims.get("sub")).first()
    if user is None or not user.api_hash or user.api_hash != claims.get("api_hash"):
        return TokenCheck(403, "API Token was revoked.", expires_at=expires_at)
    return TokenCheck(200, "API Token is valid.", user=user, expires_at=expires_at)


def _key() -> str:
    return f"node-api-token:{settings.SECRET_KEY}"
