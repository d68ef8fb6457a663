"""The look-ahead audit (`quant.lookahead`): a strategy reading the next bar or normalising over the whole
window is flagged with the first session and symbol where its targets change when later bars are added;
every template passes; forward-adjusted prices anchored at the window's end are flagged through a
level-based strategy, point-in-time (`qfq_pit`) prices are not."""

from __future__ import annotations

import numpy as np
import polars as pl
import pytest

from quant.contract import normalize_bars
from quant.lookahead import audit, prefix_ends
from quant.strategy import compute_targets, load_strategy
from quant.synthetic import gbm_bars, with_fundamentals
from quant.templates import TEMPLATE_NAMES, load_template

NEXT_BAR = """
import polars as pl
PARAMS = []
def generate(bars, params):
    known = pl.col("close").shift(-1).over("symbol").is_not_null()
    return bars.select("ts", "symbol", pl.when(known).then(0.4).otherwise(0.0).alias("weight"))
"""

WINDOW_ZSCORE = """
import polars as pl
PARAMS = []
def generate(bars, params):
    z = (pl.col("close") - pl.col("close").mean().over("symbol")) / pl.col("close").std().over("symbol")
    return bars.select("ts", "symbol", pl.when(z < 0).then(0.4).otherwise(0.0).alias("weight"))
"""

PRICE_LEVEL = """
import polars as pl
PARAMS = []
def generate(bars, params):
    return bars.select("ts", "symbol", pl.when(pl.col("close") > 8).then(0.4).otherwise(0.0).alias("weight"))
"""


@pytest.fixture(scope="module")
def bars() -> pl.DataFrame:
    return normalize_bars(gbm_bars(["600000.SH", "000001.SZ"], sessions=120, seed=3))


def _audit(spec, bars, adjust=None):
    return audit(lambda part: compute_targets(spec, part, {}), bars, compute_targets(spec, bars, {}), adjust=adjust)


def test_prefix_ends_are_the_last_sessions_of_each_quarter(bars) -> None:
    days = bars["date"].unique().sort().to_list()
    assert prefix_ends(bars) == [days[29], days[59], days[89]]


def test_a_strategy_reading_the_next_bar_is_flagged_at_the_first_prefix_end(bars) -> None:
    finding, ends = _audit(load_strategy(NEXT_BAR), bars)
    first_end = bars["date"].unique().sort()[29]
    assert (finding.session, finding.symbol, finding.full, finding.prefix) == (str(first_end), "000001.SZ", 0.4, 0.0)
    assert finding.prefix_end == ends[0] == str(first_end)
    assert finding.message.startswith("LOOKAHEAD: the targets change when later bars are added — on ")


def test_a_full_window_normalisation_is_flagged_from_its_first_session(bars) -> None:
    finding, _ = _audit(load_strategy(WINDOW_ZSCORE), bars)
    assert finding is not None
    assert finding.session <= str(bars["date"].unique().sort()[29])


@pytest.mark.parametrize("name", TEMPLATE_NAMES)
def test_every_template_passes(bars, name: str) -> None:
    spec = load_template(name)
    bars = with_fundamentals(bars, spec.fields)  # value_rotation reads pb
    finding, ends = audit(lambda part: compute_targets(spec, part, None), bars, compute_targets(spec, bars, None))
    assert finding is None and len(ends) == 3


def _split_in_the_middle(bars: pl.DataFrame, adjust: str) -> pl.DataFrame:
    """Raw prices around 10 that halve on session 60 (a 2:1 split: the factor doubles), adjusted as
    market_data adjusts them: qfq anchored at the window's end, qfq_pit at its start."""
    n = bars.filter(pl.col("symbol") == bars["symbol"][0]).height
    step = np.where(np.arange(n) >= 60, 2.0, 1.0)
    factor = pl.Series("adj_factor", np.tile(step, bars["symbol"].n_unique()))
    raw = bars.with_columns(factor, *(((pl.col(c) / pl.col("close").first().over("symbol")) * 10.0 / factor).alias(c)
                                      for c in ("open", "high", "low", "close")))  # fmt: skip
    raw = raw.with_columns(*(pl.col(c).alias(f"raw_{c}") for c in ("open", "high", "low", "close")))
    anchor = pl.col("adj_factor").last() if adjust == "qfq" else pl.col("adj_factor").first()
    scale = pl.col("adj_factor") / anchor.over("symbol")
    return raw.with_columns((pl.col(c) * scale).alias(c) for c in ("open", "high", "low", "close"))


def test_forward_adjusted_levels_leak_the_later_split_and_point_in_time_levels_do_not(bars) -> None:
    spec = load_strategy(PRICE_LEVEL)
    qfq = _split_in_the_middle(bars, "qfq")
    finding, _ = _audit(spec, qfq, adjust="qfq")
    assert finding is not None and finding.session == str(qfq["date"].min())  # the first session already
    assert (finding.full, finding.prefix) == (0.0, 0.4)  # halved by the later split on the whole window
    pit = _split_in_the_middle(bars, "qfq_pit")
    assert _audit(spec, pit, adjust="qfq_pit")[0] is None
