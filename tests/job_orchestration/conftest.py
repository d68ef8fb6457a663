"""Fixtures of the job_orchestration tests: users (from user_auth's plugin), fast timings, helpers."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from job_orchestration.config import JobSettings
from job_orchestration.registry import JobRegistry
from tests.user_auth.plugin import auth_headers_for, fast_password_hashing, make_user

__all__ = ["auth_headers_for", "fast_password_hashing", "make_user"]

# Small intervals so dead workers, retries and cancels resolve within a second or two.
FAST = {
    "heartbeat_interval_s": 0.2,
    "lease_timeout_s": 1.5,
    "reap_interval_s": 0.3,
    "dispatch_interval_s": 0.1,
    "enqueue_grace_s": 1.0,
    "cancel_grace_s": 0.8,
    "retry_base_s": 0.2,
    "retry_max_s": 1.0,
    "plan_limits": {"free": 2, "pro": 4},
}


def fast_settings(**overrides: Any) -> JobSettings:
    return JobSettings(**{**FAST, **overrides}, _env_file=None)


@pytest.fixture
def registry(container: Any) -> Iterator[JobRegistry]:
    """The container's job registry with fast timings (rolled-back tests)."""
    reg = container.extras["job_orchestration"]
    reg.settings = fast_settings()
    yield reg


@pytest.fixture
def committed_registry(committed_container: Any) -> Iterator[JobRegistry]:
    reg = committed_container.extras["job_orchestration"]
    reg.settings = fast_settings()
    yield reg
