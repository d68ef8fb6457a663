"""Where run artifacts live: the `ArtifactStore` interface and its local-filesystem implementation.

Keys are `<owner_id>/<run_id>/<type>.parquet`. A bucket store (S3, Supabase Storage) implements the same
three methods. The local store writes each file to a temporary name in the same directory, fsyncs it and
renames it over the final name, so a reader never sees a half-written artifact and a repeated attempt
(which produces identical bytes) simply replaces the file.
"""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from platform_core.errors import NotFound
from platform_core.files import atomic_write_bytes


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


class LocalArtifactStore:
    """Artifacts as files below `root` (`<data_dir>/artifacts`)."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def _path(self, key: str) -> Path:
        path = (self.root / key).resolve()
        if self.root.resolve() not in path.parents:
            raise NotFound("artifact not found")
        return path

    def put(self, key: str, data: bytes) -> StoredArtifact:
        atomic_write_bytes(self._path(key), data)
        return StoredArtifact(key=key, bytes=len(data), sha256=hashlib.sha256(data).hexdigest())

    def get(self, key: str) -> bytes:
        try:
            return self._path(key).read_bytes()
        except FileNotFoundError:
            raise NotFound("artifact file is missing from the store", details={"key": key}) from None

    def exists(self, key: str) -> bool:
        return self._path(key).is_file()
