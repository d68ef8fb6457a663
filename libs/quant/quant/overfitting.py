"""Is the best combination of a parameter sweep real? Two diagnostics of backtest overfitting, as pure
functions of the per-combination returns.

- `deflated_sharpe_ratio`: Bailey, D. H. & López de Prado, M. (2014), "The Deflated Sharpe Ratio:
  Correcting for Selection Bias, Backtest Overfitting and Non-Normality", Journal of Portfolio
  Management 40(5), 94-107. The probability that the best trial's true Sharpe ratio exceeds the
  maximum Sharpe ratio expected from `trials` unskilled trials whose Sharpe ratios have the variance
  observed (eq. 2 and the expected-maximum formula of the paper's appendix), corrected for the skew
  and kurtosis of the best trial's returns.
- `probability_of_backtest_overfitting`: Bailey, D. H., Borwein, J., López de Prado, M. & Zhu, Q. J.
  (2017), "The Probability of Backtest Overfitting", Journal of Computational Finance 20(4), 39-69.
  Combinatorially symmetric cross-validation (CSCV): the (sessions × combinations) returns are cut into
  `blocks` row blocks; for every way of choosing half of them as the in-sample set, the combination
  with the best in-sample Sharpe ratio is ranked out of sample; PBO is the share of splits in which its
  out-of-sample rank falls at or below the median (logit ≤ 0).

Sharpe ratios here are per period (not annualised) unless stated.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from statistics import NormalDist

import numpy as np

EULER_GAMMA = 0.5772156649015329
_N = NormalDist()


def expected_max_sharpe(trials: int, sharpe_variance: float) -> float:
    """E[max SR] of `trials` independent trials with true Sharpe 0 and Sharpe variance `sharpe_variance`:
    √V · ((1 − γ) Φ⁻¹(1 − 1/N) + γ Φ⁻¹(1 − 1/(N e))), γ the Euler–Mascheroni constant."""
    if trials < 2 or sharpe_variance <= 0:
        return 0.0
    a = _N.inv_cdf(1 - 1 / trials)
    b = _N.inv_cdf(1 - 1 / (trials * math.e))
    return math.sqrt(sharpe_variance) * ((1 - EULER_GAMMA) * a + EULER_GAMMA * b)


def probabilistic_sharpe_ratio(sharpe: float, benchmark: float, periods: int, skew: float, kurtosis: float) -> float:
    """PSR(SR*) = Φ((SR − SR*) √(T − 1) / √(1 − γ₃ SR + (γ₄ − 1)/4 SR²)); `kurtosis` is the plain (not
    excess) fourth standardised moment, 3 for normal returns."""
    denominator = 1 - skew * sharpe + (kurtosis - 1) / 4 * sharpe**2
    if periods < 2 or denominator <= 0:
        return float("nan")
    return _N.cdf((sharpe - benchmark) * math.sqrt(periods - 1) / math.sqrt(denominator))


def deflated_sharpe_ratio(
    sharpe: float, trials: int, sharpe_variance: float, periods: int, skew: float, kurtosis: float
) -> float:
    """DSR = PSR(E[max SR]) of the best trial: `sharpe` its per-period Sharpe ratio, `trials` the number of
    combinations tried, `sharpe_variance` the variance of their per-period Sharpe ratios, `periods` the
    number of returns, `skew`/`kurtosis` of the best trial's returns."""
    return probabilistic_sharpe_ratio(sharpe, expected_max_sharpe(trials, sharpe_variance), periods, skew, kurtosis)


def _sharpe(returns: np.ndarray) -> np.ndarray:
    """Per-period Sharpe ratio of each column (NaN where the volatility is 0)."""
    mean = returns.mean(axis=0)
    std = returns.std(axis=0, ddof=1) if returns.shape[0] > 1 else np.zeros(returns.shape[1])
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(std > 0, mean / std, np.nan)


def _moments(x: np.ndarray) -> tuple[float, float]:
    """Skew and plain kurtosis (population moments) of `x`."""
    centred = x - x.mean()
    var = float((centred**2).mean())
    if var <= 0:
        return 0.0, 3.0
    return float((centred**3).mean() / var**1.5), float((centred**4).mean() / var**2)


@dataclass(frozen=True)
class Deflated:
    best: int  # column of the best combination
    sharpe: float  # its per-period Sharpe ratio
    expected_max: float  # E[max SR] of as many unskilled trials
    dsr: float
    trials: int
    periods: int


def deflated_sharpe_of(returns: np.ndarray) -> Deflated | None:
    """The DSR of the best column (by Sharpe) of a (periods × trials) returns matrix; None when fewer
    than two trials have a finite Sharpe ratio."""
    sharpes = _sharpe(returns)
    finite = np.isfinite(sharpes)
    if finite.sum() < 2:
        return None
    best = int(np.nanargmax(sharpes))
    variance = float(np.var(sharpes[finite], ddof=1))
    skew, kurt = _moments(returns[:, best])
    trials, periods = int(finite.sum()), returns.shape[0]
    expected = expected_max_sharpe(trials, variance)
    dsr = probabilistic_sharpe_ratio(float(sharpes[best]), expected, periods, skew, kurt)
    return Deflated(best, float(sharpes[best]), expected, dsr, trials, periods)


@dataclass(frozen=True)
class Pbo:
    pbo: float
    splits: int
    logits: list[float]


def probability_of_backtest_overfitting(returns: np.ndarray, blocks: int = 16) -> Pbo:
    """CSCV over a (periods × combinations) returns matrix cut into `blocks` (even, ≥ 2) row blocks of
    equal size (the last rows that do not fill a block are dropped). Performance is the per-period
    Sharpe ratio; out-of-sample ranks are 1 (worst) … N (best), ties averaged; ω = rank / (N + 1),
    λ = ln(ω / (1 − ω)); PBO = share of the C(blocks, blocks/2) splits with λ ≤ 0."""
    if blocks < 2 or blocks % 2:
        raise ValueError("blocks must be an even number ≥ 2")
    periods, n = returns.shape
    if n < 2:
        raise ValueError("PBO needs at least two combinations")
    size = periods // blocks
    if size < 2:
        raise ValueError(f"{periods} periods are too few for {blocks} blocks")
    # Per-block sums and sums of squares: the Sharpe ratio of any union of blocks follows from them, so a
    # split costs O(blocks × N) instead of O(periods × N).
    body = returns[: size * blocks].reshape(blocks, size, n)
    sums, squares = body.sum(axis=1), (body * body).sum(axis=1)
    logits = []
    for chosen in itertools.combinations(range(blocks), blocks // 2):
        rest = [i for i in range(blocks) if i not in chosen]
        train = _sharpe_of_sums(sums[list(chosen)].sum(axis=0), squares[list(chosen)].sum(axis=0), size * len(chosen))
        test = _sharpe_of_sums(sums[rest].sum(axis=0), squares[rest].sum(axis=0), size * len(rest))
        star = int(np.argmax(train))
        rank = _average_rank(test, star)
        omega = rank / (n + 1)
        logits.append(math.log(omega / (1 - omega)))
    share = sum(1 for x in logits if x <= 0) / len(logits)
    return Pbo(share, len(logits), logits)


def _sharpe_of_sums(total: np.ndarray, squares: np.ndarray, count: int) -> np.ndarray:
    """Per-period Sharpe ratio (sample std) from the sum and sum of squares of `count` returns; −inf
    where the volatility is 0 (never the in-sample pick, ranked lowest out of sample)."""
    mean = total / count
    var = np.maximum(squares - count * mean * mean, 0.0) / (count - 1)
    std = np.sqrt(var)
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(std > 1e-15, mean / std, -np.inf)


def _average_rank(values: np.ndarray, index: int) -> float:
    """1-based ascending rank of `values[index]`, ties given their average rank."""
    below = float((values < values[index]).sum())
    equal = float((values == values[index]).sum())
    return below + (equal + 1) / 2
