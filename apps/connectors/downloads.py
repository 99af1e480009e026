"""Fetching one result file to disk: sequential, checksummed, atomic, and careful with Cloudgene's download counters.

Every GET of a Cloudgene /share/results link spends one of the file's downloads, a retry included (protocols.md
§1.7). So a file with no downloads left is not requested at all, only network failures are retried (a status
answer is final for this call), and the attempts never exceed the downloads left.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Mapping
from pathlib import Path

import httpx

from apps.connectors.errors import (
    ChecksumMismatchError,
    ConnectorError,
    DownloadExhaustedError,
)
from apps.connectors.transport import BODY_EXCERPT, Classifier, HttpSession, error_for_response
from apps.connectors.values import DownloadResult, ResultFile

CHUNK = 1024 * 1024


def file_download(
    session: HttpSession,
    result: ResultFile,
    *,
    url: str,
    dest: Path,
    headers: Mapping[str, str] | None = None,
    classify: Classifier | None = None,
    sha256: str = "",
) -> DownloadResult:
    """Stream `url` into `dest` via `dest.part`; retry dropped connections only, within the downloads left."""
    if result.downloads_left is not None and result.downloads_left <= 0:
        raise DownloadExhaustedError(f"{result.name}: no downloads left on the remote server; an admin must reset it.")
    attempts = session.retries.attempts
    if result.downloads_left is not None:
        attempts = min(attempts, result.downloads_left)
    dest.parent.mkdir(parents=True, exist_ok=True)
    partial = dest.with_name(dest.name + ".part")
    requests_made = 0
    try:
        for attempt in session.retrying(attempts=attempts, network_only=True):
            with attempt:
                requests_made += 1
                size, digest = _fetch_once(session, url, partial, headers=headers, classify=classify, name=result.name)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    expected = (sha256 or result.sha256).lower()
    if expected and digest != expected:
        partial.unlink(missing_ok=True)
        raise ChecksumMismatchError(f"{result.name}: sha256 {digest} does not match the published {expected}.")
    os.replace(partial, dest)
    left = None if result.downloads_left is None else max(0, result.downloads_left - requests_made)
    return DownloadResult(path=dest, size=size, sha256=digest, downloads_left=left)


def _fetch_once(
    session: HttpSession,
    url: str,
    partial: Path,
    *,
    headers: Mapping[str, str] | None,
    classify: Classifier | None,
    name: str,
) -> tuple[int, str]:
    operation = f"download {name}"
    digest = hashlib.sha256()
    size = 0
    with session.stream(url, operation=operation, headers=headers) as response:
        if not response.is_success:
            response.read()
            error: ConnectorError | None = classify(response, operation) if classify else None
            raise error or error_for_response(response, operation)
        with partial.open("wb") as out:
            for chunk in response.iter_bytes(CHUNK):
                out.write(chunk)
                digest.update(chunk)
                size += len(chunk)
    return size, digest.hexdigest()


def exhausted_classifier(response: httpx.Response, operation: str) -> ConnectorError | None:
    """Cloudgene answers an exhausted counter with 400 {"message": "number of max downloads exceeded."}."""
    if response.status_code == 400 and "max downloads" in response.text.lower():
        return DownloadExhaustedError(
            f"{operation}: the remote server's download limit for this file is used up.",
            status_code=400,
            body=response.text[:BODY_EXCERPT],
        )
    return None
