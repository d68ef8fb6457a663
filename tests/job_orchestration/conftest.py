"""Fixtures of the job_orchestration tests: users (from user_auth's plugin), fast timings, helpers."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from job_orchestration.config import JobsEnv, JobSettings, env_of
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


def fast_env(container: Any, **overrides: Any) -> JobsEnv:
    """The container's `JobsEnv` with fast timings, wired into the container in its place (so the API and
    CLI faces over that container run with it too)."""
    env = dataclasses.replace(env_of(container), settings=fast_settings(**overrides))
    container.extras["job_orchestration"] = env
    return env


@pytest.fixture
def env(container: Any) -> JobsEnv:
    """The job runtime of the test's container, fast timings (rolled-back tests)."""
    return fast_env(container)


@pytest.fixture
def committed_env(committed_container: Any) -> JobsEnv:
    """The job runtime over the really committing database, fast timings."""
    return fast_env(committed_container)
