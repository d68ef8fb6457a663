"""The overfitting diagnostics against the published example and hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from quant.grid import run_grid, run_grid_targets
from quant.overfitting import (
    deflated_sharpe_of,
    deflated_sharpe_ratio,
    expected_max_sharpe,
    probability_of_backtest_overfitting,
)


def test_deflated_sharpe_ratio_reproduces_the_papers_numerical_example() -> None:
    # Bailey & López de Prado (2014), section 3: annualised SR 2.5 over 1250 daily returns, 100 trials
    # whose annualised Sharpe ratios have variance 0.5, skew -3, kurtosis 10 -> DSR = 0.9004.
    per_year = 250
    dsr = deflated_sharpe_ratio(2.5 / math.sqrt(per_year), 100, 0.5 / per_year, 1250, -3.0, 10.0)
    assert dsr == pytest.approx(0.9004, abs=5e-4)


def test_expected_max_sharpe_by_hand() -> None:
    # sqrt(0.5) * ((1 - 0.5772) * 2.3263 + 0.5772 * 2.6822) = 1.7899 (annualised, in the paper's example)
    assert expected_max_sharpe(100, 0.5) == pytest.approx(1.7899, abs=5e-4)
    assert expected_max_sharpe(1, 0.5) == 0.0


def test_deflated_sharpe_of_a_matrix_picks_the_best_column() -> None:
    rng = np.random.default_rng(7)
    returns = rng.normal(0.0, 0.01, size=(500, 20))
    returns[:, 3] += 0.004  # a real edge of 0.4 per-period Sharpe
    out = deflated_sharpe_of(returns)
    assert out is not None and out.best == 3 and out.trials == 20 and out.periods == 500
    assert out.dsr > 0.95
    noise = deflated_sharpe_of(rng.normal(0.0, 0.01, size=(500, 20)))
    assert noise is not None and noise.dsr < 0.9


def _two_regimes(a_first: float, a_second: float, b_first: float, b_second: float) -> np.ndarray:
    """Two combinations over two blocks of two periods; the means are given, the spread is ±0.01."""
    jitter = np.array([0.01, -0.01])
    a = np.concatenate([a_first + jitter, a_second + jitter])
    b = np.concatenate([b_first + jitter, b_second + jitter])
    return np.stack([a, b], axis=1)


def test_pbo_is_one_when_the_in_sample_winner_always_loses_out_of_sample() -> None:
    # A wins block 1 and loses block 2, B the other way round: each split picks the out-of-sample loser,
    # rank 1 of 2 -> omega = 1/3 -> logit ln(1/2).
    out = probability_of_backtest_overfitting(_two_regimes(0.02, -0.02, -0.02, 0.02), blocks=2)
    assert out.splits == 2 and out.pbo == 1.0
    assert out.logits == pytest.approx([math.log(0.5), math.log(0.5)])


def test_pbo_is_zero_when_one_combination_dominates() -> None:
    out = probability_of_backtest_overfitting(_two_regimes(0.02, 0.03, 0.0, 0.01), blocks=2)
    assert out.pbo == 0.0 and out.logits == pytest.approx([math.log(2), math.log(2)])


def test_pbo_counts_the_splits_of_cscv() -> None:
    rng = np.random.default_rng(1)
    out = probability_of_backtest_overfitting(rng.normal(0, 0.01, size=(160, 30)), blocks=8)
    assert out.splits == math.comb(8, 4) == 70
    assert 0.0 <= out.pbo <= 1.0
    with pytest.raises(ValueError):
        probability_of_backtest_overfitting(rng.normal(size=(10, 3)), blocks=3)


def test_grid_from_precomputed_targets_matches_the_template_grid() -> None:
    from quant import EngineConfig
    from quant.strategy import compute_targets_grid
    from quant.synthetic import sample_universe
    from quant.templates import load_template

    bars = sample_universe()
    sets = [{"fast": 5, "slow": 20}, {"fast": 10, "slow": 60}]
    config = EngineConfig()
    direct = run_grid("ma_cross", bars, sets, config, returns=True)
    targets = compute_targets_grid(load_template("ma_cross"), bars, sets)
    via = run_grid_targets(bars, targets, sets, config, returns=True)
    assert via.summary["sharpe"].to_list() == pytest.approx(direct.summary["sharpe"].to_list())
    assert direct.returns is not None and direct.returns.shape == (len(direct.dates), 2)
    assert np.allclose(via.returns, direct.returns)
