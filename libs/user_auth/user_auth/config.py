"""Settings of the user_auth context and the bundle (`AuthEnv`) its services run with.

`UserAuthSettings` reads `HUICE_AUTH_*` variables (plus `HUICE_CONFIG_DIR` and `HUICE_API_KEY` for the CLI).
The signing key is not read here: the composition root passes the platform's `secret_key`.
`AuthEnv` = settings + the database (for audit rows that must survive a rolled-back request) + the
throttle; the composition app builds it once and keeps it in `container.extras["user_auth"]`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from pydantic import AliasChoices, Field, SecretStr
from pydantic_settings import SettingsConfigDict

from platform_core.settings import DEFAULT_SECRET, HuiceSettings

if TYPE_CHECKING:
    from platform_core.db import Database
    from user_auth.ratelimit import RateLimiter
    from user_auth.throttle import Throttle


class UserAuthSettings(HuiceSettings):
    """Tokens, throttling, mail delivery, external identity and the CLI session of user_auth."""

    model_config = SettingsConfigDict(
        env_prefix="HUICE_AUTH_",
        env_file=".env",
        env_file_encoding="utf-8",
        extra="ignore",
        populate_by_name=True,
    )

    secret_key: SecretStr = Field(SecretStr(DEFAULT_SECRET), description="HS256 signing key (the platform's).")
    jwt_issuer: str = Field("huice", description="`iss` of access tokens.")
    jwt_audience: str = Field("huice-api", description="`aud` of access tokens.")
    access_ttl_seconds: int = Field(900, ge=30, description="Lifetime of an access token.")
    refresh_ttl_seconds: int = Field(30 * 86400, ge=60, description="Lifetime of a refresh token.")
    verify_ttl_seconds: int = Field(48 * 3600, ge=60, description="Lifetime of an email verification token.")
    reset_ttl_seconds: int = Field(1800, ge=60, description="Lifetime of a password reset token.")

    login_pair_limit: str = Field("5/minute", description="Login attempts per account from one client address.")
    login_address_limit: str = Field("20/minute", description="Login attempts per client address.")
    login_account_limit: str = Field(
        "100/hour", description="Failed logins per account, refused only from addresses it never signed in from."
    )
    known_address_days: int = Field(
        30, ge=1, description="Days a signed-in address stays exempt from the account-wide login limit."
    )
    register_address_limit: str = Field("10/hour", description="Registrations per client address.")
    reset_account_limit: str = Field("3/hour", description="Reset requests per email.")
    reset_address_limit: str = Field("10/hour", description="Reset requests per client address.")
    verify_account_limit: str = Field("10/hour", description="Verification attempts/requests per account.")
    verify_address_limit: str = Field("30/hour", description="Verification attempts per client address.")
    throttle_timeout_seconds: float = Field(
        2.0, gt=0, description="Seconds the throttle waits for Redis; unreachable = 503 for throttled attempts."
    )

    rate_limits_enabled: bool = Field(True, description="Rate-limit every API route (per principal, per address).")
    rate_free_read: str = Field(
        "1200/minute", description="Free plan: reads (GET) per principal (`limits` syntax, `;` separates several)."
    )
    rate_free_write: str = Field("300/minute", description="Free plan: writes (POST/PATCH/PUT/DELETE) per principal.")
    rate_free_submit: str = Field("60/minute", description="Free plan: run/sweep submissions per principal.")
    rate_free_download: str = Field("120/minute", description="Free plan: artifact/export downloads per principal.")
    rate_pro_read: str = Field("6000/minute", description="Pro plan: reads per principal.")
    rate_pro_write: str = Field("1200/minute", description="Pro plan: writes per principal.")
    rate_pro_submit: str = Field("300/minute", description="Pro plan: run/sweep submissions per principal.")
    rate_pro_download: str = Field("600/minute", description="Pro plan: downloads per principal.")
    rate_anonymous: str = Field(
        "300/minute", description="Routes without a caller (login, register, ...) per client address."
    )
    rate_timeout_seconds: float = Field(
        0.25,
        gt=0,
        description="Seconds the rate limiter waits for Redis; unreachable = the request is let through (logged).",
    )

    quota_free_runs: int = Field(200, ge=0, description="Free plan: runs accepted per month.")
    quota_free_sweep_evaluations: int = Field(5000, ge=0, description="Free plan: sweep evaluations per month.")
    quota_free_artifact_bytes: int = Field(1 << 30, ge=0, description="Free plan: artifact bytes stored per month.")
    quota_free_share_links: int = Field(20, ge=0, description="Free plan: share links created per month.")
    quota_pro_runs: int = Field(5000, ge=0, description="Pro plan: runs accepted per month.")
    quota_pro_sweep_evaluations: int = Field(200_000, ge=0, description="Pro plan: sweep evaluations per month.")
    quota_pro_artifact_bytes: int = Field(50 << 30, ge=0, description="Pro plan: artifact bytes stored per month.")
    quota_pro_share_links: int = Field(1000, ge=0, description="Pro plan: share links created per month.")
    hard_quotas: str = Field(
        "",
        description=(
            "Quotas that refuse (429 RATE_LIMITED) instead of hinting: `plan:quota` list, "
            'e.g. "free:runs,free:share_links" or "free:*".'
        ),
    )
    require_disclaimer: bool = Field(
        True,
        validation_alias=AliasChoices("HUICE_REQUIRE_DISCLAIMER", "require_disclaimer"),
        description=(
            "Refuse runs until the account accepted the research-use disclaimer (`POST /api/me/disclaimer`); "
            "on for `make run`, off in the test suite (tests/conftest.py) except the disclaimer's own tests."
        ),
    )

    argon2_time_cost: int = Field(3, ge=1, description="argon2id iterations.")
    argon2_memory_cost: int = Field(65536, ge=1024, description="argon2id memory in KiB.")

    smtp_host: str | None = Field(None, description="SMTP server; unset = the dev mailbox (`huice auth mailbox`).")
    smtp_port: int = Field(587, ge=1, le=65535, description="SMTP port.")
    smtp_user: str | None = Field(None, description="SMTP login user.")
    smtp_password: SecretStr | None = Field(None, description="SMTP login password.")
    smtp_from: str = Field("huice <no-reply@huice.local>", description="From address of outgoing mail.")
    smtp_starttls: bool = Field(True, description="Use STARTTLS when the server offers it.")
    public_url: str = Field("http://127.0.0.1:8000", description="Base URL quoted in mails.")

    supabase_jwt_secret: SecretStr | None = Field(None, description="Accept Supabase HS256 tokens signed with it.")
    jwks_file: Path | None = Field(None, description="Accept ES256/RS256 tokens signed by a key in this JWKS.")
    external_audience: str = Field("authenticated", description="`aud` of external tokens.")
    external_issuer: str | None = Field(None, description="Required `iss` of external tokens (if set).")

    config_dir: Path | None = Field(
        None,
        validation_alias=AliasChoices("HUICE_CONFIG_DIR", "config_dir"),
        description="Where `huice auth login` keeps the CLI session (default: the user config dir).",
    )
    api_key: SecretStr | None = Field(
        None,
        validation_alias=AliasChoices("HUICE_API_KEY", "api_key"),
        description="An API key the CLI acts with instead of the stored session.",
    )
    api_url: str | None = Field(
        None,
        validation_alias=AliasChoices("HUICE_API_URL", "api_url"),
        description="A huice server (https://host) the CLI's user commands call over HTTP (`huice --api`); "
        "unset: in-process. The CLI reads it before any setting is built.",
    )

    def rate_limit(self, plan: str, route_class: str) -> str:
        """The limit spec of a route class for a plan (`anonymous` ignores the plan)."""
        if route_class == "anonymous":
            return self.rate_anonymous
        return getattr(self, f"rate_{plan}_{route_class}")

    def quota_limit(self, plan: str, quota: str) -> int:
        return getattr(self, f"quota_{plan}_{quota}")

    def quota_is_hard(self, plan: str, quota: str) -> bool:
        from user_auth.domain import parse_hard_quotas

        return (plan, quota) in parse_hard_quotas(self.hard_quotas)

    @property
    def external_enabled(self) -> bool:
        return self.supabase_jwt_secret is not None or self.jwks_file is not None

    def resolved_config_dir(self) -> Path:
        if self.config_dir is not None:
            return self.config_dir.expanduser()
        from platformdirs import user_config_dir

        return Path(user_config_dir("huice"))


@dataclass
class AuthEnv:
    """What user_auth's services need beyond the session: settings, the database, the throttle and the
    per-route rate limiter."""

    settings: UserAuthSettings
    db: Database
    throttle: Throttle
    limiter: RateLimiter
    # Jobs running at once per plan, as job_orchestration enforces them (HUICE_JOBS_PLAN_LIMITS; the
    # composition app passes them in), shown in the plan catalogue.
    concurrent_jobs: dict[str, int] = field(default_factory=lambda: {"free": 2, "pro": 5})

    def close(self) -> None:
        self.throttle.close()
        self.limiter.close()


def build_env(
    settings: UserAuthSettings, db: Database, redis_url: str, *, concurrent_jobs: dict[str, int] | None = None
) -> AuthEnv:
    """Build the bundle once at start-up (the composition app's `wire_user_auth` calls this). The throttle
    and the rate limiter open their own Redis pools with short timeouts; `env.close()` releases them."""
    from user_auth.ratelimit import RateLimiter
    from user_auth.throttle import Throttle

    return AuthEnv(
        settings=settings,
        db=db,
        throttle=Throttle(redis_url, timeout_s=settings.throttle_timeout_seconds),
        limiter=RateLimiter(redis_url, timeout_s=settings.rate_timeout_seconds),
        **({"concurrent_jobs": dict(concurrent_jobs)} if concurrent_jobs is not None else {}),
    )


def env_of(container: Any) -> AuthEnv:
    """The `AuthEnv` of a composition root (API, CLI, job or test container)."""
    env = container.extras.get("user_auth")
    if not isinstance(env, AuthEnv):
        from platform_core.errors import InternalError

        raise InternalError("user_auth is not wired into this container")
    return env
