"""How a result to store travels to the files deployable's internal API (apps/files/remote.py sends it,
apps/files/api/internal.py receives it): the bytes as the request body, the fields as base64-encoded JSON in one
header, so that neither the zip password nor anything else lands in a URL or an access log."""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

RESULT_HEADER = "X-Files-Result"


def result_fields_encode(fields: Mapping[str, Any]) -> str:
    return base64.b64encode(json.dumps(fields).encode()).decode()


def result_fields_decode(header: str) -> Any:
    """The fields sent, or None when the header is missing; ValueError when it is not base64-encoded JSON."""
    try:
        return json.loads(base64.b64decode(header, validate=True)) if header else None
    except binascii.Error as exc:
        raise ValueError(str(exc)) from exc
