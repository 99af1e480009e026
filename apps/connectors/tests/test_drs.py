"""DRS resolution of WES results: 202 + Retry-After handed back (no sleeping), access_id -> signed URL (§4)."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path

import pytest

from apps.connectors.drs import drs_object_url
from apps.connectors.public import ConfigurationError, Connector, DrsAccess, NotReadyError, ResultFile
from apps.connectors.tests.recorded_server import WES_TOKEN, RecordedServer

CONTENT = b"chr20 dose data" * 100


def test_an_object_being_staged_is_handed_back_with_its_retry_after(
    recorded_server: RecordedServer, wes: Connector
) -> None:
    blob = recorded_server.drs_object("chr_20.zip", CONTENT, pending=1, retry_after=7)

    started = time.monotonic()
    access = wes.resolve_drs(recorded_server.drs_uri(blob), token=WES_TOKEN)

    assert access == DrsAccess(ready=False, retry_after=7.0)
    assert time.monotonic() - started < 1.0
    assert len(recorded_server.requests_to(f"/ga4gh/drs/v1/objects/{blob.object_id}")) == 1


def test_a_ready_object_resolves_to_its_https_access_url(recorded_server: RecordedServer, wes: Connector) -> None:
    blob = recorded_server.drs_object("chr_20.zip", CONTENT)

    access = wes.resolve_drs(recorded_server.drs_uri(blob), token=WES_TOKEN)

    assert access == DrsAccess(
        ready=True,
        url=f"{recorded_server.url}/drs-blobs/{blob.object_id}",
        size=len(CONTENT),
        sha256=hashlib.sha256(CONTENT).hexdigest(),
        name="chr_20.zip",
    )
    assert recorded_server.last_request().headers["authorization"] == f"Bearer {WES_TOKEN}"


def test_an_access_id_is_exchanged_for_a_signed_url_and_its_headers(
    recorded_server: RecordedServer, wes: Connector
) -> None:
    blob = recorded_server.drs_object("chr_20.zip", CONTENT, via_access_id=True, headers={"X-Signature": "abc123"})

    access = wes.resolve_drs(recorded_server.drs_uri(blob), token=WES_TOKEN)

    assert (access.ready, access.url, access.headers) == (
        True,
        f"{recorded_server.url}/drs-blobs/{blob.object_id}?signature=recorded",
        {"X-Signature": "abc123"},
    )
    assert recorded_server.last_request().path == f"/ga4gh/drs/v1/objects/{blob.object_id}/access/signed-1"


def test_a_pending_access_call_is_handed_back_too(recorded_server: RecordedServer, wes: Connector) -> None:
    blob = recorded_server.drs_object("chr_20.zip", CONTENT, via_access_id=True, access_pending=1, retry_after=3)

    access = wes.resolve_drs(recorded_server.drs_uri(blob), token=WES_TOKEN)

    assert (access.ready, access.retry_after, access.name) == (False, 3.0, "chr_20.zip")


def test_downloading_a_drs_result_says_when_to_come_back_then_fetches_and_checks_it(
    recorded_server: RecordedServer, wes: Connector, tmp_path: Path
) -> None:
    blob = recorded_server.drs_object(
        "chr_20.zip", CONTENT, via_access_id=True, pending=1, headers={"X-Signature": "s"}
    )
    result = ResultFile(name="chr_20.zip", url="", drs_uri=recorded_server.drs_uri(blob))

    with pytest.raises(NotReadyError) as not_yet:
        wes.download(result, dest=tmp_path / "chr_20.zip", token=WES_TOKEN)
    downloaded = wes.download(result, dest=tmp_path / "chr_20.zip", token=WES_TOKEN)

    assert not_yet.value.retry_after == 7.0
    assert (downloaded.path.read_bytes(), downloaded.sha256) == (CONTENT, hashlib.sha256(CONTENT).hexdigest())
    assert recorded_server.last_request("/drs-blobs/*").headers["x-signature"] == "s"


@pytest.mark.parametrize(
    ("uri", "url"),
    [
        ("drs://wes.elwazi.org/obj-1", "https://wes.elwazi.org/ga4gh/drs/v1/objects/obj-1"),
        ("drs://127.0.0.1:9000/obj-1", "http://127.0.0.1:9000/ga4gh/drs/v1/objects/obj-1"),
        ("https://drs.example.org/ga4gh/drs/v1/objects/x", "https://drs.example.org/ga4gh/drs/v1/objects/x"),
    ],
)
def test_a_drs_uri_names_its_host_and_the_nodes_own_host_keeps_its_scheme(uri: str, url: str) -> None:
    assert drs_object_url(uri, base_url="http://127.0.0.1:9000/ga4gh/wes/v1") == url


def test_compact_identifiers_need_a_resolver_and_are_refused() -> None:
    with pytest.raises(ConfigurationError, match="drs://host/id"):
        drs_object_url("drs://hg38:chr20-panel", base_url="https://wes.elwazi.org/ga4gh/wes/v1")
