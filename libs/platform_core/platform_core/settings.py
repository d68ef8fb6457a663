"""Settings: one pydantic-settings base, `HUICE_` prefix, read from the environment and `.env`.

Nothing reads settings at import time: the composition app builds them once (`CoreSettings()`), and a
context that needs its own knobs subclasses `HuiceSettings` with the same prefix.
"""

from __future__ import annotations

import ipaddress
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEFAULT_SECRET = "dev-secret-change-me-0123456789abcdef"  # noqa: S105 - refused in production below


class HuiceSettings(BaseSettings):
    """Base for every settings class of huice: `HUICE_` environment prefix, optional `.env` file."""

    model_config = SettingsConfigDict(env_prefix="HUICE_", env_file=".env", env_file_encoding="utf-8", extra="ignore")


class CoreSettings(HuiceSettings):
    """Settings of the platform: where data lives, which servers to use, how the API behaves."""

    env: Literal["dev", "test", "production"] = Field("dev", description="Deployment mode.")
    data_dir: Path = Field(Path("var"), description="Data directory (embedded servers, stores, artifacts).")
    database_url: str | None = Field(None, description="PostgreSQL URL; unset = embedded pgserver.")
    redis_url: str | None = Field(None, description="Redis URL; unset = embedded redis-server.")
    allow_embedded: bool = Field(False, description="Allow embedded servers in production mode.")
    secret_key: SecretStr = Field(SecretStr(DEFAULT_SECRET), description="Signing secret (JWT etc.).")
    log_level: str = Field("INFO", description="Root log level.")
    log_format: Literal["json", "console"] = Field("json", description="Log line format.")
    api_host: str = Field("127.0.0.1", description="Bind address of the API.")
    api_port: int = Field(8000, ge=1, le=65535, description="Port of the API.")
    api_workers: int = Field(
        2,
        ge=1,
        le=64,
        description=(
            "API server (uvicorn) processes started by `huice serve`, behind one acceptor that deals connections "
            "round robin."
        ),
    )
    workers: int = Field(2, ge=0, le=64, description="RQ worker processes started by `huice serve`.")
    trusted_proxies: str | None = Field(
        None,
        description=(
            "Comma-separated addresses/CIDR networks of reverse proxies whose X-Forwarded-For/-Proto are "
            "believed (`*` = every peer); unset = none: the client address is the TCP peer's."
        ),
    )
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Largest accepted request body (413 above).")
    api_client_concurrency: int = Field(
        4,
        ge=1,
        le=1000,
        description=(
            "Requests of one caller (one credential) handled at once per API process; more wait their turn "
            "(keep it below HUICE_DB_POOL_SIZE so other callers always find a connection)."
        ),
    )
    api_client_write_concurrency: int = Field(
        1,
        ge=1,
        le=1000,
        description=(
            "Of those, writes (POST/PUT/PATCH/DELETE: a save runs the caller's code in the confined runner) "
            "handled at once per caller per API process; more wait their turn while the caller's reads go on."
        ),
    )
    api_client_queue: int = Field(
        64, ge=0, le=100_000, description="Requests of one caller that may wait per API process; 429 beyond."
    )
    api_client_queue_wait_s: float = Field(
        30.0,
        gt=0,
        le=3600,
        description="Seconds a request may wait for its turn at the per-caller gate; 429 with Retry-After beyond.",
    )
    db_pool_size: int = Field(5, ge=1, description="SQLAlchemy pool size per process.")
    worker_heartbeat_ttl: int = Field(60, ge=5, description="Seconds a worker heartbeat stays valid.")
    storage_url: str | None = Field(
        None,
        description=(
            "Where bars and run artifacts live: `s3://bucket/prefix` (an S3-compatible object store shared by "
            "every machine) or `file:///path`; unset = below the data directory."
        ),
    )
    storage_endpoint_url: str | None = Field(
        None, description="Endpoint of an S3-compatible server (MinIO, moto); unset = AWS."
    )
    storage_region: str | None = Field(None, description="Region of the bucket (unset: AWS_REGION or us-east-1).")
    storage_access_key_id: str | None = Field(None, description="S3 access key id (unset: the AWS_* environment).")
    storage_secret_access_key: SecretStr | None = Field(None, description="S3 secret key (never logged).")

    @field_validator("trusted_proxies")
    @classmethod
    def _valid_proxies(cls, value: str | None) -> str | None:
        entries = [e.strip() for e in (value or "").split(",") if e.strip()]
        for entry in entries:
            if entry != "*":
                try:
                    ipaddress.ip_network(entry, strict=False)
                except ValueError:
                    raise ValueError(f"HUICE_TRUSTED_PROXIES: {entry!r} is not an IP address or network") from None
        return ",".join(entries) or None

    @property
    def trusted_proxy_list(self) -> list[str]:
        """The configured proxies (empty: trust no forwarded header)."""
        return self.trusted_proxies.split(",") if self.trusted_proxies else []

    @model_validator(mode="after")
    def _refuse_unsafe_production(self) -> CoreSettings:
        if self.env != "production":
            return self
        if self.secret_key.get_secret_value() == DEFAULT_SECRET or len(self.secret_key.get_secret_value()) < 32:
            raise ValueError("HUICE_SECRET_KEY must be set to a random value of 32+ characters in production")
        if not self.allow_embedded and (self.database_url is None or self.redis_url is None):
            raise ValueError(
                "production mode needs HUICE_DATABASE_URL and HUICE_REDIS_URL "
                "(or HUICE_ALLOW_EMBEDDED=true to use embedded servers)"
            )
        return self

    @field_validator("storage_url")
    @classmethod
    def _valid_storage_url(cls, value: str | None) -> str | None:
        if value:
            from platform_core.storage import parse_storage_url

            parse_storage_url(value)
        return value or None

    @property
    def resolved_data_dir(self) -> Path:
        return self.data_dir.expanduser().resolve()
