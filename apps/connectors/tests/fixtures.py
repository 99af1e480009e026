"""The `recorded_server` fixture: a loopback server of recorded Cloudgene/WES/DRS payloads (registered in conftest.py).

Shared with the registry's tests (health and panel sync) and, later, replaced by the reference node for the same
connector tests.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from apps.connectors.tests.recorded_server import RecordedServer


@pytest.fixture
def recorded_server() -> Iterator[RecordedServer]:
    """A fresh server per test on 127.0.0.1 (random port); no database, no network beyond loopback.

    - `recorded_server.url`: a Cloudgene server root (use with api_type "cloudgene"); `recorded_server.wes_url`: a
      WES base (`.../ga4gh/wes/v1`, api_type "wes"). Tokens: `CLOUDGENE_TOKEN`, `WES_TOKEN` from recorded_server.py.
    - Make a path hang: `recorded_server.hang("/api/v2/server", seconds=5)` (or "/ga4gh/wes/v1/service-info");
      the answer comes after `seconds`, and hung requests are released when the test ends.
    - Make a path fail: `recorded_server.fail("/api/v2/server", status=503, times=2)`; `body=` takes a dict (JSON),
      str or bytes (e.g. an HTML error page, `content_type="text/html"`); `times=None` fails every request.
      Paths are exact, or fnmatch patterns ("/api/v2/jobs/*/status").
    - Flip behaviour through `recorded_server.scenario` (maintenance, starter_kit, service_info, ...), add jobs and
      runs with `cloudgene_job([...])` / `wes_run([...])`, and read what arrived with `requests_to(path)`.
    """
    server = RecordedServer.start()
    try:
        yield server
    finally:
        server.stop()
