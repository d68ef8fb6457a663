"""Fixtures of the market_data tests: a loaded sample slice, the Tushare stand-in server, user fixtures."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from pydantic import SecretStr

from market_data import service
from market_data.config import MarketDataEnv, env_of
from market_data.schemas import LoadSampleResult
from market_data.tushare import TushareClient
from market_data.tushare_standin import StandinServer
from tests.user_auth.plugin import auth_headers_for, fast_password_hashing, make_user

__all__ = ["auth_headers_for", "fast_password_hashing", "make_user"]

# One symbol per board and situation: SSE/SZSE main, ChiNext (+ an ST crossing the 2020 reform), STAR,
# Beijing, a delisting, an old-regime IPO, and the benchmark index.
SLICE = [
    "600010.SH",
    "000010.SZ",
    "300010.SZ",
    "300080.SZ",
    "688010.SH",
    "830010.BJ",
    "600110.SH",
    "603010.SH",
    "000300.SH",
]


@pytest.fixture
def market(container: Any) -> MarketDataEnv:
    """The market-data env of the test's container (store under the test data dir)."""
    return env_of(container)


@pytest.fixture
def loaded(session: Any, market: MarketDataEnv) -> LoadSampleResult:
    """The sample slice `SLICE` loaded into the rolled-back database."""
    return service.load_sample(session, market, symbols=SLICE)


@pytest.fixture(scope="session")
def standin() -> Iterator[StandinServer]:
    """A Tushare-protocol server on 127.0.0.1 serving the sample dataset (faults reset per test)."""
    with StandinServer(token="test-token") as server:
        yield server


@pytest.fixture
def tushare(standin: StandinServer) -> Iterator[StandinServer]:
    standin.reset()
    yield standin
    standin.reset()


def client_for(server: StandinServer, **overrides: Any) -> TushareClient:
    """A Tushare client of the stand-in: no backoff or quota waits, no throttling to speak of."""
    options = {
        "base_url": server.url,
        "token": "test-token",
        "backoff": 0.0,
        "quota_wait": 0.0,
        "max_retries": 2,
        "timeout": 5.0,
        "rate_per_minute": 60000,
    }
    return TushareClient(**{**options, **overrides})


@contextmanager
def standin_settings(market: MarketDataEnv, server: StandinServer) -> Iterator[StandinServer]:
    """The env's Tushare settings pointed at the stand-in (no retries), restored afterwards."""
    original = market.settings
    market.settings = original.model_copy(
        update={
            "tushare_token": SecretStr("test-token"),
            "tushare_url": server.url,
            "tushare_backoff": 0.0,
            "tushare_max_retries": 0,
        }
    )
    try:
        yield server
    finally:
        market.settings = original
