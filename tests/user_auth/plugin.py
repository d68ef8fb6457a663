"""pytest plugin of user_auth for every context's tests (register: `pytest_plugins = ["tests.user_auth.plugin"]`).

Fixtures:
- `make_user(role="user", plan="free", **kw) -> Principal`: a user created in the test's rolled-back session.
- `auth_headers_for(principal) -> {"Authorization": "Bearer ..."}`: a real access token for that user.
- `fast_password_hashing` (autouse, session): cheap argon2id parameters so tests stay fast.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.user_auth.factories import auth_headers, create_user
from user_auth.principal import Principal

_FAST_HASHING = {"HUICE_AUTH_ARGON2_TIME_COST": "1", "HUICE_AUTH_ARGON2_MEMORY_COST": "1024"}


@pytest.fixture(scope="session", autouse=True)
def fast_password_hashing() -> Iterator[None]:
    """argon2id with minimal cost in tests (production defaults are much higher)."""
    saved = {k: os.environ.get(k) for k in _FAST_HASHING}
    os.environ.update({k: v for k, v in _FAST_HASHING.items() if saved[k] is None})
    yield
    for key, value in saved.items():
        if value is None:
            os.environ.pop(key, None)


@pytest.fixture
def make_user(session: Any, container: Any) -> Callable[..., Principal]:
    def make(role: str = "user", plan: str = "free", **kwargs: Any) -> Principal:
        return create_user(session, container, role=role, plan=plan, **kwargs)

    return make


@pytest.fixture
def auth_headers_for(container: Any) -> Callable[[Principal], dict[str, str]]:
    def headers(principal: Principal) -> dict[str, str]:
        return auth_headers(container, principal)

    return headers
