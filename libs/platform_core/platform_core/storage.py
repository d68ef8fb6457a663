"""Where huice keeps its blobs: one storage interface with a local-directory default and an S3-compatible
object store.

Bars (market_data's Parquet partitions and by-date staging) and run artifacts (backtest's Parquet files,
report caches) are immutable objects under string keys (`bars/1d/600000.SH/<hash>.parquet`,
`<owner>/<run>/equity.parquet`). `open_storage(settings)` returns the store `HUICE_STORAGE_URL` names:

- unset: `LocalStorage(<data_dir>)` — files below the data directory, written to a temporary name, fsynced
  and renamed, so a reader never sees a half-written one;
- `s3://bucket/prefix`: `S3Storage` through obstore (Rust `object_store`, the crate polars' own cloud reader
  uses) — a PUT is atomic per object, so a reader sees the old object or the whole new one; every process on
  every machine configured with the same URL sees the same objects. `HUICE_STORAGE_ENDPOINT_URL` (MinIO, moto,
  any S3-compatible server), `HUICE_STORAGE_REGION`, `HUICE_STORAGE_ACCESS_KEY_ID` and
  `HUICE_STORAGE_SECRET_ACCESS_KEY`; unset credentials fall back to the standard `AWS_*` environment.

Each context takes a `child(prefix)` of the root (`market/`, `artifacts/`). `describe()` is what `huice
doctor` and `/ready` show: backend, bucket, prefix, endpoint — never a credential.
"""

from __future__ import annotations

import asyncio
import contextlib
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol
from urllib.parse import urlparse

from platform_core.files import atomic_write_bytes

if TYPE_CHECKING:
    from platform_core.settings import CoreSettings


class StorageKeyMissing(FileNotFoundError):
    """No object under the key."""


class StorageConfigError(ValueError):
    """`HUICE_STORAGE_URL` (or its companions) cannot be used."""


def check_key(key: str) -> str:
    """A relative key of `/`-separated non-empty segments, none of them `.` or `..` (no escaping the root)."""
    parts = key.split("/")
    if not key or key.startswith("/") or "\\" in key or any(p in ("", ".", "..") for p in parts):
        raise StorageKeyMissing(f"invalid storage key {key!r}")
    return key


class Storage(Protocol):
    """Immutable blobs by key. `put` is atomic from a reader's point of view."""

    backend: str  # "local" | "s3"

    def put(self, key: str, data: bytes) -> None: ...

    def get(self, key: str) -> bytes: ...  # raises StorageKeyMissing

    def get_many(self, keys: list[str]) -> list[bytes]: ...  # in the order of `keys`, fetched concurrently

    def exists(self, key: str) -> bool: ...

    def delete(self, key: str) -> None: ...  # a missing key is fine

    def delete_prefix(self, prefix: str) -> int: ...  # every key below `prefix/`; how many were removed

    def list(self, prefix: str) -> list[str]: ...  # keys below `prefix/` (relative to this store), sorted

    def child(self, prefix: str) -> Storage: ...

    def parquet_sources(self, keys: list[str]) -> tuple[list[str], dict[str, str] | None]:
        """What `polars.scan_parquet` reads for `keys`: local paths, or `s3://` URLs with their
        `storage_options`."""
        ...

    def describe(self) -> dict[str, Any]: ...


@dataclass(frozen=True)
class LocalStorage:
    """Objects as files below `root`."""

    root: Path
    backend: str = "local"

    def __post_init__(self) -> None:
        object.__setattr__(self, "root", Path(self.root))

    def path(self, key: str) -> Path:
        return self.root / check_key(key)

    def put(self, key: str, data: bytes) -> None:
        atomic_write_bytes(self.path(key), data)

    def get(self, key: str) -> bytes:
        try:
            return self.path(key).read_bytes()
        except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
            raise StorageKeyMissing(key) from None

    def get_many(self, keys: list[str]) -> list[bytes]:
        return [self.get(k) for k in keys]

    def exists(self, key: str) -> bool:
        return self.path(key).is_file()

    def delete(self, key: str) -> None:
        self.path(key).unlink(missing_ok=True)

    def delete_prefix(self, prefix: str) -> int:
        folder = self.path(prefix)
        count = sum(1 for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0
        shutil.rmtree(folder, ignore_errors=True)
        return count

    def list(self, prefix: str) -> list[str]:
        folder = self.path(prefix)
        if not folder.is_dir():
            return []
        return sorted(
            p.relative_to(self.root).as_posix()
            for p in folder.rglob("*")
            if p.is_file() and not p.name.startswith(".tmp-")
        )

    def child(self, prefix: str) -> LocalStorage:
        return LocalStorage(self.path(prefix))

    def parquet_sources(self, keys: list[str]) -> tuple[list[str], dict[str, str] | None]:
        return [str(self.path(k)) for k in keys], None

    def describe(self) -> dict[str, Any]:
        return {"backend": self.backend, "root": str(self.root)}


@dataclass(frozen=True)
class S3Config:
    """Where an S3-compatible bucket is and how to sign requests (the secret is never in `describe`)."""

    bucket: str
    prefix: str = ""
    endpoint_url: str | None = None
    region: str | None = None
    access_key_id: str | None = None
    secret_access_key: str | None = None

    def __repr__(self) -> str:  # no credentials in tracebacks or logs
        return f"S3Config(bucket={self.bucket!r}, prefix={self.prefix!r}, endpoint_url={self.endpoint_url!r})"

    def object_store_options(self) -> dict[str, str]:
        """The `object_store` configuration keys both obstore and polars understand."""
        options: dict[str, str] = {}
        if self.endpoint_url:
            options["aws_endpoint_url"] = self.endpoint_url
            if self.endpoint_url.startswith("http://"):
                options["aws_allow_http"] = "true"
        if self.region:
            options["aws_region"] = self.region
        if self.access_key_id:
            options["aws_access_key_id"] = self.access_key_id
        if self.secret_access_key:
            options["aws_secret_access_key"] = self.secret_access_key
        return options


class S3Storage:
    """Objects in an S3-compatible bucket below `prefix`, through obstore."""

    backend = "s3"

    def __init__(self, config: S3Config, *, _store: Any = None) -> None:
        from obstore.store import S3Store

        self.config = config
        options = config.object_store_options()
        allow_http = options.pop("aws_allow_http", None) == "true"
        self._store = _store or S3Store(
            config.bucket,
            config={k.removeprefix("aws_"): v for k, v in options.items()},
            client_options={"allow_http": allow_http, "timeout": "60s", "connect_timeout": "5s"},
        )

    def __repr__(self) -> str:
        return f"S3Storage({self.url})"

    @property
    def url(self) -> str:
        return f"s3://{self.config.bucket}/{self.config.prefix}".rstrip("/")

    def _full(self, key: str) -> str:
        check_key(key)
        return f"{self.config.prefix}/{key}" if self.config.prefix else key

    def put(self, key: str, data: bytes) -> None:
        import obstore

        obstore.put(self._store, self._full(key), data)

    def get(self, key: str) -> bytes:
        import obstore
        from obstore.exceptions import NotFoundError

        try:
            return bytes(obstore.get(self._store, self._full(key)).bytes())
        except (NotFoundError, FileNotFoundError):
            raise StorageKeyMissing(key) from None

    def get_many(self, keys: list[str]) -> list[bytes]:
        import obstore
        from obstore.exceptions import NotFoundError

        async def fetch(key: str) -> bytes:
            try:
                result = await obstore.get_async(self._store, self._full(key))
                return bytes(await result.bytes_async())
            except (NotFoundError, FileNotFoundError):
                raise StorageKeyMissing(key) from None

        async def fetch_all() -> list[bytes]:
            limit = asyncio.Semaphore(64)

            async def bounded(key: str) -> bytes:
                async with limit:
                    return await fetch(key)

            return list(await asyncio.gather(*(bounded(k) for k in keys)))

        return asyncio.run(fetch_all()) if keys else []

    def exists(self, key: str) -> bool:
        import obstore
        from obstore.exceptions import NotFoundError

        try:
            obstore.head(self._store, self._full(key))
        except (NotFoundError, FileNotFoundError):
            return False
        return True

    def delete(self, key: str) -> None:
        import obstore
        from obstore.exceptions import NotFoundError

        with contextlib.suppress(NotFoundError, FileNotFoundError):
            obstore.delete(self._store, self._full(key))

    def list(self, prefix: str) -> list[str]:
        import obstore

        base = self._full(prefix) + "/"
        strip = len(self.config.prefix) + 1 if self.config.prefix else 0
        keys = [meta["path"][strip:] for batch in obstore.list(self._store, base) for meta in batch]
        return sorted(keys)

    def delete_prefix(self, prefix: str) -> int:
        import obstore

        keys = self.list(prefix)
        if keys:
            obstore.delete(self._store, [self._full(k) for k in keys])
        return len(keys)

    def child(self, prefix: str) -> S3Storage:
        nested = self._full(prefix)
        config = S3Config(**{**self.config.__dict__, "prefix": nested})
        return S3Storage(config, _store=self._store)

    def parquet_sources(self, keys: list[str]) -> tuple[list[str], dict[str, str] | None]:
        return [f"s3://{self.config.bucket}/{self._full(k)}" for k in keys], self.config.object_store_options()

    def describe(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "bucket": self.config.bucket,
            "prefix": self.config.prefix,
            "endpoint_url": self.config.endpoint_url,
            "region": self.config.region,
            "credentials": "configured" if self.config.secret_access_key else "environment",
        }


def parse_storage_url(url: str) -> tuple[str, str, str]:
    """`(scheme, bucket-or-root, prefix)` of `s3://bucket/prefix` or `file:///path`."""
    parsed = urlparse(url)
    if parsed.scheme == "s3":
        if not parsed.netloc:
            raise StorageConfigError("HUICE_STORAGE_URL: s3:// needs a bucket (s3://bucket/prefix)")
        prefix = parsed.path.strip("/")
        try:
            if prefix:
                check_key(prefix)
        except StorageKeyMissing:
            raise StorageConfigError(f"HUICE_STORAGE_URL: {prefix!r} is not a usable prefix") from None
        return "s3", parsed.netloc, prefix
    if parsed.scheme == "file":
        return "file", parsed.path, ""
    raise StorageConfigError("HUICE_STORAGE_URL must be s3://bucket/prefix or file:///path")


def open_storage(settings: CoreSettings) -> Storage:
    """The root store the settings name: `HUICE_STORAGE_URL`, else the data directory."""
    url = settings.storage_url
    if not url:
        return LocalStorage(settings.resolved_data_dir)
    scheme, where, prefix = parse_storage_url(url)
    if scheme == "file":
        return LocalStorage(Path(where).expanduser().resolve())
    secret = settings.storage_secret_access_key
    return S3Storage(
        S3Config(
            bucket=where,
            prefix=prefix,
            endpoint_url=settings.storage_endpoint_url,
            region=settings.storage_region,
            access_key_id=settings.storage_access_key_id,
            secret_access_key=secret.get_secret_value() if secret is not None else None,
        )
    )
