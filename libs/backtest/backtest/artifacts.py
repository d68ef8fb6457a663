"""Where run artifacts live: the `ArtifactStore` interface and its implementation on the platform's storage.

Keys are `<owner_id>/<run_id>/<type>.parquet` (and the report caches beside them, `<type>.json`/`.html`),
below `artifacts/` of the storage (`platform_core.storage`): `<data_dir>/artifacts` by default,
`s3://bucket/prefix/artifacts` with `HUICE_STORAGE_URL`. Locally each file is written to a temporary name in
the same directory, fsynced and renamed over the final name; on S3 a PUT is atomic per object. Either way a
reader never sees a half-written artifact and a repeated attempt (which produces identical bytes) simply
replaces it.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from platform_core.errors import NotFound
from platform_core.storage import LocalStorage, Storage, StorageKeyMissing


@dataclass(frozen=True)
class StoredArtifact:
    key: str
    bytes: int
    sha256: str


class ArtifactStore(Protocol):
    """Put and get immutable blobs by key."""

    def put(self, key: str, data: bytes) -> StoredArtifact: ...

    def get(self, key: str) -> bytes: ...

    def exists(self, key: str) -> bool: ...


def artifact_key(owner_id: uuid.UUID, run_id: uuid.UUID, kind: str) -> str:
    return f"{owner_id}/{run_id}/{kind}.parquet"


class StorageArtifactStore:
    """Artifacts as objects of `storage` (a local directory or an S3 prefix)."""

    def __init__(self, storage: Storage) -> None:
        self.storage = storage

    def put(self, key: str, data: bytes) -> StoredArtifact:
        try:
            self.storage.put(key, data)
        except StorageKeyMissing:
            raise NotFound("artifact not found") from None
        return StoredArtifact(key=key, bytes=len(data), sha256=hashlib.sha256(data).hexdigest())

    def get(self, key: str) -> bytes:
        try:
            return self.storage.get(key)
        except StorageKeyMissing:
            raise NotFound("artifact file is missing from the store", details={"key": key}) from None

    def exists(self, key: str) -> bool:
        try:
            return self.storage.exists(key)
        except StorageKeyMissing:
            raise NotFound("artifact not found") from None


class LocalArtifactStore(StorageArtifactStore):
    """Artifacts as files below `root` (`<data_dir>/artifacts`)."""

    def __init__(self, root: Path) -> None:
        super().__init__(LocalStorage(Path(root)))
        self.root = Path(root)
