"""`connector_for` and base URL normalization: one stored form per service, paths never doubled."""

from __future__ import annotations

import pytest

from apps.connectors.public import (
    USER_AGENT,
    ConfigurationError,
    Connector,
    Timeouts,
    UnsupportedProtocolError,
    base_url_normalize,
    connector_for,
)
from apps.connectors.tests.recorded_server import CLOUDGENE_TOKEN, WES_TOKEN, RecordedServer


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("https://imputationserver.sph.umich.edu", "https://imputationserver.sph.umich.edu"),
        ("https://imputationserver.sph.umich.edu/", "https://imputationserver.sph.umich.edu"),
        ("https://imputationserver.sph.umich.edu/api/v2", "https://imputationserver.sph.umich.edu"),
        (
            "https://imputation.biodatacatalyst.nhlbi.nih.gov/api/v2/",
            "https://imputation.biodatacatalyst.nhlbi.nih.gov",
        ),
        ("https://example.org/imputation/api/v2/", "https://example.org/imputation"),
        (" http://127.0.0.1:8080// ", "http://127.0.0.1:8080"),
        ("HTTPS://MIS.Example.ORG/api/v2", "https://mis.example.org"),
    ],
)
def test_a_cloudgene_base_url_is_the_server_root(typed: str, stored: str) -> None:
    assert base_url_normalize(api_type="cloudgene", base_url=typed) == stored


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("https://wes.elwazi.org", "https://wes.elwazi.org/ga4gh/wes/v1"),
        ("https://wes.elwazi.org/", "https://wes.elwazi.org/ga4gh/wes/v1"),
        ("https://wes.elwazi.org/ga4gh/wes/v1", "https://wes.elwazi.org/ga4gh/wes/v1"),
        ("https://wes.elwazi.org/ga4gh/wes/v1/", "https://wes.elwazi.org/ga4gh/wes/v1"),
        ("https://wes.elwazi.org/ga4gh/wes/v1/service-info", "https://wes.elwazi.org/ga4gh/wes/v1"),
        ("https://node.example.org/custom/wes/", "https://node.example.org/custom/wes"),
    ],
)
def test_a_wes_base_url_is_the_api_base(typed: str, stored: str) -> None:
    assert base_url_normalize(api_type="wes", base_url=typed) == stored


def test_normalizing_twice_changes_nothing() -> None:
    once = base_url_normalize(api_type="wes", base_url="https://wes.elwazi.org/")

    assert base_url_normalize(api_type="wes", base_url=once) == once


@pytest.mark.parametrize("url", ["ftp://example.org", "imputationserver.sph.umich.edu", "file:///etc/passwd", ""])
def test_only_absolute_http_urls_are_accepted(url: str) -> None:
    with pytest.raises(ConfigurationError, match="absolute http"):
        base_url_normalize(api_type="cloudgene", base_url=url)


@pytest.mark.parametrize(
    ("api_type", "message"),
    [
        ("dnastack", "No automated connector for api_type 'dnastack'; supported: cloudgene, wes."),
        ("sanger_manual", "The Sanger Imputation Service has no job API: jobs are exported and submitted by hand."),
        ("tes", "No automated connector for api_type 'tes'; supported: cloudgene, wes."),
    ],
)
def test_protocols_without_a_client_are_refused_by_name(api_type: str, message: str) -> None:
    with pytest.raises(UnsupportedProtocolError) as caught:
        connector_for(api_type=api_type, base_url="https://example.org")

    assert caught.value.message == message


def test_the_connector_keeps_the_normalized_url_the_app_id_and_the_protocol() -> None:
    cloudgene = connector_for(api_type="cloudgene", base_url="https://mis.example.org/api/v2/")
    wes = connector_for(api_type="wes", base_url="https://wes.example.org", app_id="https://github.com/x/y@v1")

    assert (cloudgene.api_type, cloudgene.base_url, cloudgene.app_id) == (
        "cloudgene",
        "https://mis.example.org",
        "imputationserver2",
    )
    assert (wes.api_type, wes.base_url, wes.app_id) == (
        "wes",
        "https://wes.example.org/ga4gh/wes/v1",
        "https://github.com/x/y@v1",
    )


def test_a_base_url_typed_with_the_api_suffix_does_not_double_the_path(recorded_server: RecordedServer) -> None:
    with connector_for(api_type="cloudgene", base_url=recorded_server.url + "/api/v2/") as cloudgene:
        cloudgene.server_info(token=CLOUDGENE_TOKEN)
    with connector_for(api_type="wes", base_url=recorded_server.url + "/ga4gh/wes/v1/service-info") as wes:
        wes.server_info()

    assert [request.path for request in recorded_server.requests] == ["/api/v2/server", "/ga4gh/wes/v1/service-info"]


def test_every_call_says_who_is_calling(recorded_server: RecordedServer, cloudgene: Connector, wes: Connector) -> None:
    cloudgene.health(token=CLOUDGENE_TOKEN)
    cloudgene.list_panels(token=CLOUDGENE_TOKEN)
    wes.health()
    wes.list_jobs(token=WES_TOKEN)

    assert {request.headers["user-agent"] for request in recorded_server.requests} == {USER_AGENT}
    assert USER_AGENT == "fip-connectors/1.0 (+federated imputation platform)"


def test_timeouts_default_to_five_seconds_to_connect_and_thirty_to_read() -> None:
    assert Timeouts() == Timeouts(connect=5.0, read=30.0)
