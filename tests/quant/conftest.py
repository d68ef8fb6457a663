"""Fixtures for the engine tests."""

from __future__ import annotations

import polars as pl
import pytest

from quant.synthetic import gbm_bars


@pytest.fixture
def bars() -> list[pl.DataFrame]:
    """Bar frames accumulated by BDD steps (one per stock)."""
    return []


@pytest.fixture(scope="session")
def sample_bars() -> pl.DataFrame:
    """Three symbols, 400 sessions of deterministic GBM."""
    return gbm_bars(("000001.SZ", "300750.SZ", "688981.SH"), sessions=400, seed=11)
