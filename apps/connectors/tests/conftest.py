"""Connectors for the `recorded_server` of each test, with short timeouts and near-instant retries."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from apps.connectors.public import Connector, InputFile, Retries, Timeouts, connector_for
from apps.connectors.tests.recorded_server import RecordedServer

QUICK = Timeouts(connect=1.0, read=2.0)
FAST_RETRIES = Retries(attempts=3, wait_initial=0.01, wait_max=0.05, total=5.0)


@pytest.fixture
def cloudgene(recorded_server: RecordedServer) -> Iterator[Connector]:
    connector = connector_for(api_type="cloudgene", base_url=recorded_server.url, timeouts=QUICK, retries=FAST_RETRIES)
    yield connector
    connector.close()


@pytest.fixture
def wes(recorded_server: RecordedServer) -> Iterator[Connector]:
    connector = connector_for(api_type="wes", base_url=recorded_server.wes_url, timeouts=QUICK, retries=FAST_RETRIES)
    yield connector
    connector.close()


@pytest.fixture
def vcf(tmp_path: Path) -> Callable[[str], InputFile]:
    """A stand-in for a bgzipped VCF, with bytes a text-mode upload would break (CR/LF, NUL, a boundary-like line)."""

    def make(name: str) -> InputFile:
        path = tmp_path / name
        path.write_bytes(
            b"\x1f\x8b\x08\x04\x00\x00\x00\x00\x00\xff\x06\x00BC\x02\x00" + name.encode() + b"\r\n--x\r\n\x00"
        )
        return InputFile(path=path)

    return make
