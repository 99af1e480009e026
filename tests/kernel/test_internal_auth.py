"""Internal service tokens: short-lived, signed with INTERNAL_SERVICE_KEY, bound to issuer and audience."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime, timedelta
from typing import Any

import jwt
import pytest
from django.conf import settings
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.permissions import IsAuthenticated
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from apps.kernel.internal_auth import (
    INTERNAL_TOKEN_HEADER,
    MAX_TTL_SECONDS,
    InternalCaller,
    InternalServiceAuthentication,
    InternalTokenError,
    internal_token_issue,
    internal_token_verify,
)


def _claims(**overrides: Any) -> dict[str, Any]:
    now = datetime.now(UTC)
    claims: dict[str, Any] = {
        "iss": "jobs",
        "aud": "files",
        "iat": now,
        "exp": now + timedelta(seconds=60),
        "jti": "0123456789abcdef0123456789abcdef",
    }
    claims.update(overrides)
    return {key: value for key, value in claims.items() if value is not None}


def _sign(claims: dict[str, Any], key: str | None = None) -> str:
    return jwt.encode(claims, key or settings.INTERNAL_SERVICE_KEY, algorithm="HS256")


def test_issue_then_verify_names_the_issuing_deployable_and_keeps_the_audience(settings) -> None:
    settings.DEPLOYABLE = "jobs"

    token = internal_token_issue(audience="files", ttl_seconds=30)
    caller = internal_token_verify(token, audience="files")

    claims = jwt.decode(token, options={"verify_signature": False})
    assert caller == InternalCaller(issuer="jobs", audience="files", token_id=claims["jti"])
    assert re.fullmatch(r"[0-9a-f]{32}", caller.token_id)
    assert claims["iss"] == "jobs" and claims["aud"] == "files"
    assert claims["exp"] - claims["iat"] == 30
    assert jwt.get_unverified_header(token)["alg"] == "HS256"


def test_each_token_has_its_own_id() -> None:
    first = internal_token_verify(internal_token_issue(audience="files"), audience="files")
    second = internal_token_verify(internal_token_issue(audience="files"), audience="files")

    assert first.token_id != second.token_id


def test_a_token_for_another_audience_is_refused() -> None:
    token = internal_token_issue(audience="notifications")

    with pytest.raises(InternalTokenError, match=r"^invalid internal token: Audience doesn't match$"):
        internal_token_verify(token, audience="files")


def test_an_expired_token_is_refused() -> None:
    past = datetime.now(UTC) - timedelta(minutes=2)
    token = _sign(_claims(iat=past, exp=past + timedelta(seconds=60)))

    with pytest.raises(InternalTokenError, match=r"^invalid internal token: Signature has expired$"):
        internal_token_verify(token, audience="files")


def test_a_tampered_signature_is_refused() -> None:
    header, payload, signature = internal_token_issue(audience="files").split(".")
    flipped = ("A" if signature[0] != "A" else "B") + signature[1:]

    with pytest.raises(InternalTokenError, match=r"^invalid internal token: Signature verification failed$"):
        internal_token_verify(f"{header}.{payload}.{flipped}", audience="files")


def test_a_tampered_payload_is_refused() -> None:
    token = internal_token_issue(audience="files")
    header, _, signature = token.split(".")
    claims = jwt.decode(token, options={"verify_signature": False}) | {"iss": "admin"}
    forged = jwt.utils.base64url_encode(json.dumps(claims).encode()).decode()

    with pytest.raises(InternalTokenError, match=r"^invalid internal token: Signature verification failed$"):
        internal_token_verify(f"{header}.{forged}.{signature}", audience="files")


def test_a_token_signed_with_another_key_is_refused() -> None:
    token = _sign(_claims(), key="another-deployments-key-" + "x" * 40)

    with pytest.raises(InternalTokenError, match=r"^invalid internal token: Signature verification failed$"):
        internal_token_verify(token, audience="files")


def test_an_unsigned_token_is_refused() -> None:
    token = jwt.encode(_claims(), "", algorithm="none")

    with pytest.raises(InternalTokenError, match=r"^invalid internal token: "):
        internal_token_verify(token, audience="files")


@pytest.mark.parametrize("claim", ["iss", "iat", "exp", "jti"])
def test_a_token_missing_a_required_claim_is_refused(claim: str) -> None:
    claims = _claims()
    del claims[claim]

    with pytest.raises(InternalTokenError, match=rf'^invalid internal token: Token is missing the "{claim}" claim$'):
        internal_token_verify(_sign(claims), audience="files")


def test_a_token_living_longer_than_the_maximum_is_refused_even_before_it_expires() -> None:
    now = datetime.now(UTC)
    token = _sign(_claims(iat=now, exp=now + timedelta(seconds=MAX_TTL_SECONDS + 1)))

    with pytest.raises(InternalTokenError, match=r"^internal token lives longer than 300s$"):
        internal_token_verify(token, audience="files")


def test_a_token_living_exactly_the_maximum_is_accepted() -> None:
    now = datetime.now(UTC)
    token = _sign(_claims(iat=now, exp=now + timedelta(seconds=MAX_TTL_SECONDS)))

    assert internal_token_verify(token, audience="files").issuer == "jobs"


@pytest.mark.parametrize("ttl", [0, -1, MAX_TTL_SECONDS + 1, 3600])
def test_issuing_with_a_ttl_outside_1_to_300_seconds_raises(ttl: int) -> None:
    with pytest.raises(ValueError, match=rf"^internal tokens live 1\.\.300s, not {ttl}s$"):
        internal_token_issue(audience="files", ttl_seconds=ttl)


@pytest.mark.parametrize("ttl", [1, MAX_TTL_SECONDS])
def test_issuing_at_the_ttl_bounds_works(ttl: int) -> None:
    token = internal_token_issue(audience="files", ttl_seconds=ttl)

    assert internal_token_verify(token, audience="files").audience == "files"


def _request(**headers: str) -> Request:
    return Request(APIRequestFactory().get("/internal/", headers=headers))


def test_authentication_without_the_header_is_not_attempted() -> None:
    assert InternalServiceAuthentication().authenticate(_request()) is None


@pytest.mark.parametrize("token", ["garbage", "a.b.c"])
def test_authentication_with_a_malformed_header_fails(token: str) -> None:
    with pytest.raises(AuthenticationFailed, match=r"^invalid internal token: "):
        InternalServiceAuthentication().authenticate(_request(**{INTERNAL_TOKEN_HEADER: token}))


def test_authentication_with_a_token_meant_for_another_deployable_fails(settings) -> None:
    settings.DEPLOYABLE = "files"
    token = internal_token_issue(audience="notifications")

    with pytest.raises(AuthenticationFailed, match=r"^invalid internal token: Audience doesn't match$"):
        InternalServiceAuthentication().authenticate(_request(**{INTERNAL_TOKEN_HEADER: token}))


def test_authentication_with_a_good_token_yields_the_calling_deployable(settings) -> None:
    settings.DEPLOYABLE = "jobs"
    token = internal_token_issue(audience="files")
    settings.DEPLOYABLE = "files"

    result = InternalServiceAuthentication().authenticate(_request(**{INTERNAL_TOKEN_HEADER: token}))

    assert result is not None
    caller, credentials = result
    assert credentials == token
    assert caller.issuer == "jobs"
    assert caller.audience == "files"
    assert caller.is_authenticated is True
    assert caller.is_staff is False


class _InternalOnly(APIView):
    authentication_classes = [InternalServiceAuthentication]
    permission_classes = [IsAuthenticated]

    def get(self, request: Request) -> Response:
        return Response({"caller": request.user.issuer})  # type: ignore[union-attr]


def _call_internal(**headers: str) -> Any:
    response = _InternalOnly.as_view()(APIRequestFactory().get("/internal/", headers=headers))
    response.render()
    return response


def test_an_internal_endpoint_serves_a_good_token(settings) -> None:
    settings.DEPLOYABLE = "jobs"
    token = internal_token_issue(audience="monolith")
    settings.DEPLOYABLE = "monolith"

    response = _call_internal(**{INTERNAL_TOKEN_HEADER: token})

    assert response.status_code == 200
    assert json.loads(response.content) == {"caller": "jobs"}


def test_an_internal_endpoint_answers_401_without_a_token() -> None:
    response = _call_internal()

    assert response.status_code == 401
    assert json.loads(response.content) == {
        "error": {"code": "AUTHENTICATION_ERROR", "message": "Authentication credentials were not provided."},
        "request_id": None,
    }


def test_an_internal_endpoint_answers_401_for_a_forged_token(settings) -> None:
    settings.DEPLOYABLE = "monolith"
    forged = _sign(_claims(aud="monolith"), key="not-the-shared-key-" + "y" * 40)

    response = _call_internal(**{INTERNAL_TOKEN_HEADER: forged})

    assert response.status_code == 401
    assert json.loads(response.content) == {
        "error": {
            "code": "AUTHENTICATION_ERROR",
            "message": "invalid internal token: Signature verification failed",
        },
        "request_id": None,
    }
