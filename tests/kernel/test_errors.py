"""The API error envelope: every failure a DRF view raises leaves as {"error": {...}, "request_id"}."""

from __future__ import annotations

import json
import logging
from collections.abc import Callable
from typing import Any

import pytest
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404
from rest_framework import exceptions, serializers
from rest_framework.authentication import BaseAuthentication
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.test import APIRequestFactory
from rest_framework.views import APIView

from apps.kernel.errors import ConflictError, NotFoundError, ServiceUnavailableError
from apps.kernel.request_id import RequestIdMiddleware

REQUEST_ID = "errors-test-request-1"


class _BearerChallenge(BaseAuthentication):
    """Authenticates nobody but names a scheme, which is what makes DRF answer 401 rather than 403."""

    def authenticate(self, request: Request) -> None:
        return None

    def authenticate_header(self, request: Request) -> str:
        return "Bearer"


def _raising(exc: Exception, *, authentication: list[type[BaseAuthentication]] | None = None) -> Callable[..., Any]:
    class Raising(APIView):
        permission_classes: list = []
        authentication_classes: list = authentication or []

        def get(self, request: Request) -> Response:
            raise exc

    return Raising.as_view()


class _Submission(serializers.Serializer):
    name = serializers.CharField()
    samples = serializers.IntegerField(min_value=1)


class _SubmitView(APIView):
    permission_classes: list = []
    authentication_classes: list = []

    def post(self, request: Request) -> Response:
        submission = _Submission(data=request.data)
        submission.is_valid(raise_exception=True)
        return Response(submission.validated_data, status=201)


def _call(view: Callable[..., Any], method: str = "get", **kwargs: Any) -> Any:
    """Through the request-id middleware, as in production, so the body's request_id is a real one."""
    request = getattr(APIRequestFactory(), method)("/api/test/", headers={"X-Request-ID": REQUEST_ID}, **kwargs)
    response = RequestIdMiddleware(view)(request)
    response.render()
    assert response["X-Request-ID"] == REQUEST_ID
    return response


def _body(response: Any) -> dict[str, Any]:
    return json.loads(response.content)


def test_serializer_validation_errors_are_400_with_per_field_details() -> None:
    response = _call(_SubmitView.as_view(), "post", data={"samples": 0}, format="json")

    assert response.status_code == 400
    assert _body(response) == {
        "error": {
            "code": "VALIDATION_ERROR",
            "message": "Invalid input.",
            "details": {
                "name": ["This field is required."],
                "samples": ["Ensure this value is greater than or equal to 1."],
            },
        },
        "request_id": REQUEST_ID,
    }


def test_a_raised_field_validation_error_keeps_its_field_and_message() -> None:
    response = _call(_raising(serializers.ValidationError({"build": ["Must be hg19 or hg38."]})))

    assert response.status_code == 400
    assert _body(response) == {
        "error": {
            "code": "VALIDATION_ERROR",
            "message": "Invalid input.",
            "details": {"build": ["Must be hg19 or hg38."]},
        },
        "request_id": REQUEST_ID,
    }


def test_a_non_field_validation_error_uses_its_text_as_the_message() -> None:
    response = _call(_raising(serializers.ValidationError("The panel does not support hg19.")))

    assert response.status_code == 400
    assert _body(response) == {
        "error": {
            "code": "VALIDATION_ERROR",
            "message": "The panel does not support hg19.",
            "details": ["The panel does not support hg19."],
        },
        "request_id": REQUEST_ID,
    }


def test_a_malformed_json_body_is_a_400_without_details() -> None:
    response = _call(_SubmitView.as_view(), "post", data=b"{not json", content_type="application/json")

    assert response.status_code == 400
    body = _body(response)
    assert body["error"]["code"] == "VALIDATION_ERROR"
    assert body["error"]["message"].startswith("JSON parse error")
    assert "details" not in body["error"]
    assert body["request_id"] == REQUEST_ID


def test_not_authenticated_is_401_with_a_bearer_challenge() -> None:
    response = _call(_raising(exceptions.NotAuthenticated(), authentication=[_BearerChallenge]))

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert _body(response) == {
        "error": {"code": "AUTHENTICATION_ERROR", "message": "Authentication credentials were not provided."},
        "request_id": REQUEST_ID,
    }


def test_authentication_failed_is_401_with_its_message() -> None:
    response = _call(_raising(exceptions.AuthenticationFailed("Token expired."), authentication=[_BearerChallenge]))

    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"
    assert _body(response) == {
        "error": {"code": "AUTHENTICATION_ERROR", "message": "Token expired."},
        "request_id": REQUEST_ID,
    }


def test_drf_permission_denied_is_403_authorization_error() -> None:
    response = _call(_raising(exceptions.PermissionDenied()))

    assert response.status_code == 403
    assert not response.has_header("WWW-Authenticate")
    assert _body(response) == {
        "error": {"code": "AUTHORIZATION_ERROR", "message": "You do not have permission to perform this action."},
        "request_id": REQUEST_ID,
    }


def test_django_permission_denied_is_403_authorization_error() -> None:
    response = _call(_raising(DjangoPermissionDenied("internal reason")))

    assert response.status_code == 403
    assert _body(response) == {
        "error": {"code": "AUTHORIZATION_ERROR", "message": "You do not have permission to perform this action."},
        "request_id": REQUEST_ID,
    }


def test_django_http404_is_404_not_found() -> None:
    response = _call(_raising(Http404("No Job matches the given query.")))

    assert response.status_code == 404
    assert _body(response) == {"error": {"code": "NOT_FOUND", "message": "Not found."}, "request_id": REQUEST_ID}


def test_an_unsupported_method_is_405() -> None:
    response = _call(_raising(RuntimeError("never reached")), "delete")

    assert response.status_code == 405
    assert _body(response) == {
        "error": {"code": "METHOD_NOT_ALLOWED", "message": 'Method "DELETE" not allowed.'},
        "request_id": REQUEST_ID,
    }


def test_throttled_is_429_with_the_rounded_up_wait_in_retry_after_and_message() -> None:
    response = _call(_raising(exceptions.Throttled(wait=12.2)))

    assert response.status_code == 429
    assert _body(response) == {
        "error": {
            "code": "RATE_LIMIT_EXCEEDED",
            "message": "Request was throttled. Expected available in 13 seconds.",
        },
        "request_id": REQUEST_ID,
    }


def test_throttled_retry_after_is_the_wait_rounded_up() -> None:
    response = _call(_raising(exceptions.Throttled(wait=12.2)))

    assert response["Retry-After"] == "13"


def test_throttled_without_a_wait_has_no_retry_after() -> None:
    response = _call(_raising(exceptions.Throttled()))

    assert response.status_code == 429
    assert not response.has_header("Retry-After")
    assert _body(response) == {
        "error": {"code": "RATE_LIMIT_EXCEEDED", "message": "Request was throttled."},
        "request_id": REQUEST_ID,
    }


def test_conflict_error_is_409_with_its_message_and_details() -> None:
    exc = ConflictError("Service has 3 active jobs.", details={"active_jobs": 3, "hint": "use ?force=true"})

    response = _call(_raising(exc))

    assert response.status_code == 409
    assert _body(response) == {
        "error": {
            "code": "CONFLICT",
            "message": "Service has 3 active jobs.",
            "details": {"active_jobs": 3, "hint": "use ?force=true"},
        },
        "request_id": REQUEST_ID,
    }


@pytest.mark.parametrize(
    ("exc", "status", "code"),
    [
        (NotFoundError("No such job."), 404, "NOT_FOUND"),
        (ServiceUnavailableError("No such job."), 503, "SERVICE_UNAVAILABLE"),
    ],
)
def test_application_errors_render_with_their_own_status_and_code(exc: Exception, status: int, code: str) -> None:
    response = _call(_raising(exc))

    assert response.status_code == status
    assert _body(response) == {"error": {"code": code, "message": "No such job."}, "request_id": REQUEST_ID}


def test_an_unexpected_error_is_500_without_its_detail_and_is_logged(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.ERROR, logger="apps.kernel.errors"):
        response = _call(_raising(RuntimeError("secret detail")))

    assert response.status_code == 500
    assert b"secret detail" not in response.content
    assert b"RuntimeError" not in response.content
    assert _body(response) == {
        "error": {"code": "INTERNAL_ERROR", "message": "Internal server error."},
        "request_id": REQUEST_ID,
    }
    [record] = [r for r in caplog.records if r.name == "apps.kernel.errors"]
    assert record.levelno == logging.ERROR
    assert record.getMessage() == "unhandled error in Raising"
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], RuntimeError)
    assert str(record.exc_info[1]) == "secret detail"


def test_outside_a_request_the_body_still_has_a_null_request_id() -> None:
    request = APIRequestFactory().get("/api/test/")

    response = _raising(ConflictError("busy"))(request)
    response.render()

    assert _body(response) == {"error": {"code": "CONFLICT", "message": "busy"}, "request_id": None}
