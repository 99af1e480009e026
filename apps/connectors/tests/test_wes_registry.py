"""WES health from service-info, panels from the node's extension, token checks (protocols.md §2, §3, §8.3)."""

from __future__ import annotations

import base64
import json
import time
from datetime import UTC, datetime

import pytest

from apps.connectors.public import Connector, HealthResult, PanelInfo, Timeouts, TokenCheck, connector_for
from apps.connectors.tests import payloads
from apps.connectors.tests.recorded_server import WES_FORBIDDEN_TOKEN, WES_TOKEN, RecordedServer

SERVICE_INFO = "/ga4gh/wes/v1/service-info"


def test_a_complete_wes_service_info_is_healthy(recorded_server: RecordedServer, wes: Connector) -> None:
    result = wes.health()

    assert (result.status, result.message) == ("healthy", "eLwazi imputation node (recorded) 1.4.2 (WES 1.1.0).")
    assert result.server_info == payloads.service_info_full()
    assert recorded_server.last_request().path == SERVICE_INFO


def test_the_starter_kit_service_info_is_healthy(recorded_server: RecordedServer, wes: Connector) -> None:
    recorded_server.scenario.service_info = payloads.service_info_starter_kit()

    assert wes.health().message == "GA4GH Starter Kit WES Service 0.3.2 (WES 1.0.1)."


@pytest.mark.parametrize(
    ("broken", "message"),
    [
        ({"organization": None, "version": ""}, "service-info lacks required fields: organization, version."),
        ({"type": {"group": "org.ga4gh", "artifact": "wes"}}, "service-info lacks required fields: type.version."),
        ({"organization": {"name": "eLwazi"}}, "service-info lacks required fields: organization.url."),
        (
            {"type": {"group": "org.ga4gh", "artifact": "tes", "version": "1.1.0"}},
            "Not a WES service (type.artifact is 'tes').",
        ),
        ({"workflow_type_versions": {}}, "service-info advertises no workflow_type_versions."),
    ],
)
def test_a_service_info_that_is_not_a_usable_wes_is_unhealthy(
    recorded_server: RecordedServer, wes: Connector, broken: dict[str, object], message: str
) -> None:
    recorded_server.scenario.service_info = {**payloads.service_info_full(), **broken}

    result = wes.health()

    assert (result.status, result.message) == ("unhealthy", message)


def test_a_hanging_node_is_a_timeout_within_the_read_timeout(recorded_server: RecordedServer) -> None:
    recorded_server.hang(SERVICE_INFO, seconds=10)
    slow = connector_for(api_type="wes", base_url=recorded_server.wes_url, timeouts=Timeouts(connect=1.0, read=0.3))

    started = time.monotonic()
    result = slow.health()

    assert result == HealthResult(
        status="timeout", response_time_ms=None, message="No answer within 0.3 s (ReadTimeout)."
    )
    assert time.monotonic() - started < 1.5
    slow.close()


def test_a_wes_error_body_is_the_unhealthy_message(recorded_server: RecordedServer, wes: Connector) -> None:
    recorded_server.fail(SERVICE_INFO, status=500, body={"msg": "database unavailable", "status_code": 500})

    assert wes.health().message == "HTTP 500: database unavailable"


def test_panels_are_read_from_the_reference_panels_extension(wes: Connector) -> None:
    panels = wes.list_panels(token=WES_TOKEN)

    assert panels == [
        PanelInfo(
            slug="h3africa-v6",
            name="H3Africa v6 (hg38)",
            build="hg38",
            populations=("afr", "mixed"),
            description="African reference panel hosted on the node.",
            samples_count=4447,
            variants_count=130_000_000,
        ),
        PanelInfo(slug="1000g-phase-3-v5", name="1000G Phase 3 v5", build="hg19", populations=("afr", "eur", "all")),
    ]


def test_panels_of_a_node_with_only_standard_fields_come_from_a_json_tag(
    recorded_server: RecordedServer, wes: Connector
) -> None:
    recorded_server.scenario.service_info = payloads.service_info_starter_kit()

    assert wes.list_panels() == [PanelInfo(slug="hapmap-2", name="HapMap 2", build="hg19", populations=())]


def a_jwt(claims: dict[str, object]) -> str:
    def part(data: dict[str, object]) -> str:
        return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")

    return f"{part({'alg': 'RS256'})}.{part(claims)}.c2lnbmF0dXJl"


def test_a_token_the_node_accepts_is_valid_and_its_claims_name_the_user(recorded_server: RecordedServer) -> None:
    token = a_jwt({"preferred_username": "alice@elwazi", "exp": 1_780_000_000})
    recorded_server.scenario.wes_token = token

    with connector_for(api_type="wes", base_url=recorded_server.url) as wes:
        check = wes.verify_token(token=token)

    assert check == TokenCheck(
        valid=True,
        message="The node accepted the token.",
        username="alice@elwazi",
        expires_at=datetime.fromtimestamp(1_780_000_000, tz=UTC),
    )
    sent = recorded_server.last_request()
    assert (sent.path, sent.query, sent.headers["authorization"]) == (
        "/ga4gh/wes/v1/runs",
        {"page_size": ["1"]},
        f"Bearer {token}",
    )


@pytest.mark.parametrize(("token", "status"), [("not-a-token", 401), (WES_FORBIDDEN_TOKEN, 403)])
def test_a_token_the_node_refuses_is_invalid_not_an_exception(wes: Connector, token: str, status: int) -> None:
    check = wes.verify_token(token=token)

    assert check.valid is False
    assert f"HTTP {status}" in check.message
