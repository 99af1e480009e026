"""The local storage probe where the storage is not usable (the healthy case, local and remote, is in
test_public.py; S3's, against moto_server, in test_s3.py)."""

from __future__ import annotations

from pathlib import Path

from apps.files.impl import LocalFilesService
from apps.files.public import StorageHealth


def test_a_missing_media_root_is_not_ok_and_named(media: Path) -> None:
    health = LocalFilesService().storage_health()

    assert health == StorageHealth("local", False, f"{media} does not exist", {"root": str(media)})
