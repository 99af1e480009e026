"""Cloudgene health, server info, panel discovery and token checks, as the registry uses them (§1.8, §8.2)."""

from __future__ import annotations

import socket
import time
from datetime import UTC, datetime

import pytest

from apps.connectors.public import (
    Connector,
    CredentialError,
    HealthResult,
    PanelInfo,
    ProtocolError,
    Timeouts,
    TokenCheck,
    connector_for,
)
from apps.connectors.tests.recorded_server import CLOUDGENE_REVOKED_TOKEN, CLOUDGENE_TOKEN, RecordedServer


def test_a_working_server_with_the_app_is_healthy(recorded_server: RecordedServer, cloudgene: Connector) -> None:
    result = cloudgene.health(token=CLOUDGENE_TOKEN)

    assert (result.status, result.message) == (
        "healthy",
        "Michigan Imputation Server (recorded) is up and offers imputationserver2.",
    )
    assert isinstance(result.response_time_ms, int) and 0 <= result.response_time_ms < 2000
    assert result.server_info["apps"] == [
        {"id": "imputationserver2@2.0.12", "name": "Genotype Imputation (Minimac4)", "version": "2.0.12"}
    ]
    assert recorded_server.last_request().headers["x-auth-token"] == CLOUDGENE_TOKEN
    assert "authorization" not in recorded_server.last_request().headers


def test_without_a_token_the_server_is_healthy_but_cannot_show_its_apps(cloudgene: Connector) -> None:
    result = cloudgene.health()

    assert (result.status, result.message) == (
        "healthy",
        "Michigan Imputation Server (recorded) is up (apps are only listed for a signed-in token).",
    )


def test_maintenance_mode_is_unhealthy_with_the_servers_note(
    recorded_server: RecordedServer, cloudgene: Connector
) -> None:
    recorded_server.scenario.maintenance = True

    result = cloudgene.health(token=CLOUDGENE_TOKEN)

    assert (result.status, result.message) == (
        "unhealthy",
        "The server is in maintenance mode. Scheduled maintenance until 18:00 UTC.",
    )


def test_a_server_without_the_app_is_unhealthy(recorded_server: RecordedServer) -> None:
    with connector_for(api_type="cloudgene", base_url=recorded_server.url, app_id="imputationserver-hla") as hla:
        result = hla.health(token=CLOUDGENE_TOKEN)

    assert (result.status, result.message) == (
        "unhealthy",
        "The app 'imputationserver-hla' is not installed or not permitted for this account.",
    )


def test_a_revoked_token_makes_the_probe_unhealthy_with_the_reason(cloudgene: Connector) -> None:
    result = cloudgene.health(token=CLOUDGENE_REVOKED_TOKEN)

    assert (result.status, result.message) == (
        "unhealthy",
        "The service rejected the credentials (HTTP 403): The API token has been revoked.",
    )


def test_a_hanging_server_is_a_timeout_within_the_read_timeout(recorded_server: RecordedServer) -> None:
    recorded_server.hang("/api/v2/server", seconds=10)
    slow = connector_for(api_type="cloudgene", base_url=recorded_server.url, timeouts=Timeouts(connect=1.0, read=0.3))

    started = time.monotonic()
    result = slow.health(token=CLOUDGENE_TOKEN)
    elapsed = time.monotonic() - started

    assert result == HealthResult(
        status="timeout", response_time_ms=None, message="No answer within 0.3 s (ReadTimeout)."
    )
    assert elapsed < 1.5
    slow.close()


def test_a_refused_connection_is_unhealthy_not_an_exception() -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        closed_port = probe.getsockname()[1]

    result = connector_for(api_type="cloudgene", base_url=f"http://127.0.0.1:{closed_port}").health()

    assert (result.status, result.response_time_ms) == ("unhealthy", None)
    assert result.message.startswith("Unreachable: ConnectError:")


@pytest.mark.parametrize(
    ("status", "body", "content_type", "message"),
    [
        (500, "<html><body>Internal Server Error</body></html>", "text/html", "HTTP 500: Internal Server Error"),
        (502, "Bad Gateway", "text/plain", "HTTP 502: Bad Gateway"),
        (200, "<html>login</html>", "text/html", "The service answered with a body that is not JSON."),
        (200, "[1, 2]", "application/json", "The service answered with JSON that is not an object."),
    ],
)
def test_errors_and_malformed_answers_are_unhealthy_with_a_clear_message(
    recorded_server: RecordedServer, cloudgene: Connector, status: int, body: str, content_type: str, message: str
) -> None:
    recorded_server.fail("/api/v2/server", status=status, body=body, content_type=content_type)

    result = cloudgene.health(token=CLOUDGENE_TOKEN)

    assert (result.status, result.message) == ("unhealthy", message)


def test_server_info_is_the_servers_own_document(cloudgene: Connector) -> None:
    info = cloudgene.server_info(token=CLOUDGENE_TOKEN)

    assert (info["name"], info["loggedIn"], info["maintenace"], info["user"]["username"]) == (
        "Michigan Imputation Server (recorded)",
        True,
        False,
        "alice",
    )


def test_panels_and_their_bound_populations_come_from_the_app_form(
    recorded_server: RecordedServer, cloudgene: Connector
) -> None:
    panels = cloudgene.list_panels(token=CLOUDGENE_TOKEN)

    assert panels == [
        PanelInfo(
            slug="apps@1000g-phase-3-v5@2.0.0",
            name="1000G Phase 3 (GRCh37/hg19)",
            build="hg19",
            populations=("afr", "amr", "eas", "eur", "sas", "off"),
        ),
        PanelInfo(
            slug="apps@hrc-r1.1@2.0.0",
            name="HRC r1.1 2016 (GRCh37/hg19)",
            build="hg19",
            populations=("eur", "mixed", "off"),
        ),
        PanelInfo(slug="apps@topmed-r3@1.0.0", name="TOPMed r3", build="hg38", populations=("all", "off")),
        PanelInfo(slug="apps@cappa@1.0.0", name="CAAPA - African American Panel", build="", populations=("AA", "off")),
    ]
    assert recorded_server.last_request().path == "/api/v2/server/apps/imputationserver2"


def test_an_app_without_panels_is_a_protocol_error(recorded_server: RecordedServer, cloudgene: Connector) -> None:
    recorded_server.fail("/api/v2/server/apps/imputationserver2", status=200, body={"id": "x", "params": []})

    with pytest.raises(ProtocolError, match="lists no reference panels"):
        cloudgene.list_panels(token=CLOUDGENE_TOKEN)


def test_a_valid_token_reports_its_owner_and_expiry(recorded_server: RecordedServer, cloudgene: Connector) -> None:
    check = cloudgene.verify_token(token=CLOUDGENE_TOKEN)

    assert check == TokenCheck(
        valid=True,
        message="API Token was created by alice and is valid.",
        username="alice",
        expires_at=datetime(2026, 1, 31, tzinfo=UTC),
    )
    assert recorded_server.last_request().fields == {"token": [CLOUDGENE_TOKEN]}


def test_an_invalid_token_is_reported_not_raised(cloudgene: Connector) -> None:
    assert cloudgene.verify_token(token="garbage") == TokenCheck(valid=False, message="Invalid API Token.")


def test_without_the_verify_endpoint_the_token_is_tried_on_the_server_document(
    recorded_server: RecordedServer, cloudgene: Connector
) -> None:
    recorded_server.scenario.verify_endpoint = False

    good = cloudgene.verify_token(token=CLOUDGENE_TOKEN)
    bad = cloudgene.verify_token(token="garbage")

    assert good == TokenCheck(valid=True, message="The token is accepted.", username="alice")
    assert bad == TokenCheck(
        valid=False,
        message=(
            "The service rejected the credentials (server info: HTTP 401: Unauthorized). "
            "Ask the user for a new API token."
        ),
    )


def test_a_bad_token_on_a_registry_read_is_a_credential_error(cloudgene: Connector) -> None:
    with pytest.raises(CredentialError) as caught:
        cloudgene.list_panels(token=CLOUDGENE_REVOKED_TOKEN)

    assert caught.value.status_code == 403
