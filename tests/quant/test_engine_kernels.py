"""The lean execution paths are exact: the frictionless lane kernel (`kernel_plain`), the one-account
scalar kernel (`kernel_scalar`) and the numpy result assembly reproduce the reference `Simulator` and
the polars assembly bit for bit, on random inputs covering every order reason."""

from __future__ import annotations

import datetime as dt
import math

import numpy as np
import polars as pl
import pytest

from quant import EngineConfig
from quant.contract import default_instruments, normalize_bars
from quant.engine import execution_targets
from quant.kernel import REASONS, Simulator
from quant.kernel_plain import plain_lanes_applicable, run_kernel, run_plain_lanes
from quant.kernel_scalar import _Lane, run_single_lane
from quant.market import prepare_market
from quant.results import (
    equity_panel,
    fills_frame,
    lane_frames,
    orders_frame,
    position_panel,
    round_trips,
)
from quant.synthetic import gbm_bars

SYMBOLS = ["600000.SH", "300750.SZ", "688981.SH", "830799.BJ", "000001.SZ"]


def _same(a, b, m, sym_idx, cash) -> None:
    def by_key(o):
        order = np.lexsort((o.orders["side"], o.orders["sym"], o.orders["t"], o.orders["lane"]))
        return {k: v[order] for k, v in o.orders.items()}

    ka, kb = by_key(a), by_key(b)
    for field in ka:
        assert np.array_equal(ka[field].astype(float), kb[field].astype(float), equal_nan=True), field
    for x, y in zip(equity_panel(a, m, sym_idx, cash), equity_panel(b, m, sym_idx, cash), strict=True):
        assert np.array_equal(x, y, equal_nan=True)
    assert np.array_equal(position_panel(a), position_panel(b))
    assert np.array_equal(a.ca_paid, b.ca_paid)


def _rough_bars(rng, seed: int, symbols: int, sessions: int, intraday: bool) -> pl.DataFrame:
    bars = normalize_bars(gbm_bars(SYMBOLS[:symbols], sessions=sessions, seed=seed, sigma=float(rng.uniform(0.2, 1.5))))
    if intraday:  # five-hour bars: several per session, so T+1 binds
        step = pl.duration(hours=5) * pl.int_range(pl.len()).over("symbol")
        bars = bars.with_columns((pl.col("ts").min() + step).alias("ts")).with_columns(
            pl.col("ts").dt.date().alias("date")
        )
    h = bars.height
    suspended = rng.random(h) < rng.uniform(0, 0.15)
    factor = np.cumprod(np.where(rng.random(h) < 0.03, rng.uniform(1.0, 1.3, h), 1.0))
    prices = ("open", "high", "low", "close", "raw_open", "raw_close")
    return bars.with_columns(
        pl.Series("suspended", suspended),
        pl.Series("adj_factor", factor),
        pl.Series("is_st", rng.random(h) < 0.1),
        *(pl.when(pl.Series(suspended)).then(None).otherwise(pl.col(c)).alias(c) for c in prices),
    )


def _random_exits(rng) -> dict:
    exits = {"stop_loss": 0.02, "take_profit": 0.05, "trailing_stop": 0.03}
    picked = {k: v * float(rng.uniform(0.5, 3)) for k, v in exits.items() if rng.random() < 0.7}
    return picked or {"stop_loss": 0.03}


def test_single_account_kernel_equals_simulator() -> None:
    rng = np.random.default_rng(11)
    seen = set()
    for it in range(80):
        bars = _rough_bars(rng, it, int(rng.integers(1, 6)), int(rng.integers(3, 80)), intraday=it % 2 == 0)
        config = EngineConfig(
            preset=["a-share", "plain"][it % 2],
            fill=["next_open", "next_close", "same_close"][it % 3],
            initial_cash=float(10 ** rng.uniform(3, 8)),
            volume_cap=None if it % 3 else float(10 ** rng.uniform(-6, -1)),
            slippage_bps=float(rng.choice([0, 3, 50])),
            shares=["integer", "fractional"][(it // 2) % 2],
            commission_rate=None if it % 5 else 0.0003,
            limit_policy=["touch", "locked"][(it // 3) % 2],
            **(_random_exits(rng) if it % 4 == 1 else {}),
        )
        m = prepare_market(bars, config)
        N = len(m.symbols)
        mode = "shares" if it % 7 == 3 else "weight"
        decisions = rng.random((m.shape[0], 1, N))
        if mode == "shares":
            decisions = np.round(decisions * 5000, -2 if it % 2 else 0)
        elif it % 4 == 0:
            decisions = (decisions > 0.5) * (1.0 / N)
        decisions = np.where(rng.random(decisions.shape) < 0.4, decisions, np.nan)
        targets, change = execution_targets(decisions, mode, config.fill)
        sym_idx = np.arange(N)[None, :]
        a = Simulator(m, config, sym_idx, mode).run(targets, change)
        b = run_single_lane(m, config, sym_idx, mode, targets, change)
        _same(a, b, m, sym_idx, config.initial_cash)
        seen |= set(a.orders["reason"].tolist())
    event_only = {REASONS.index("LIMIT_PRICE_NOT_REACHED")}  # limit orders exist only in event-driven runs
    assert seen == set(range(len(REASONS))) - event_only  # every order reason was exercised


def test_frictionless_single_account_path_equals_simulator(monkeypatch) -> None:
    """A portfolio with nothing that can block, round or charge an order takes `_Lane.run_frictionless`;
    it reproduces `Simulator` bit for bit, including buys scaled to the cash and dust close-outs (which
    it hands to `_step`)."""
    calls = {"fit_cash": 0, "step": 0}
    for name in ("_fit_cash", "_step"):
        original = getattr(_Lane, name)

        def spy(self, *args, _original=original, _name=name):
            calls[_name.strip("_")] += 1
            return _original(self, *args)

        monkeypatch.setattr(_Lane, name, spy)
    rng = np.random.default_rng(5)
    for it in range(60):
        S, T = int(rng.integers(1, 9)), int(rng.integers(3, 150))
        bars = gbm_bars([f"{600000 + i:06d}.SH" for i in range(S)], sessions=T, seed=100 + it)
        config = EngineConfig(
            preset="plain",
            shares="fractional",
            initial_cash=float(10 ** rng.uniform(2, 9)),
            fill=["next_open", "next_close", "same_close"][it % 3],
            slippage_bps=float(rng.choice([0, 3, 50])),
        )
        m = prepare_market(bars, config)
        decisions = rng.random((T, 1, S))
        if it % 4 == 0:
            decisions = (decisions > 0.5) * (1.0 / S)
        elif it % 4 == 1:  # dust: positions of at most 1e-6 shares beside ordinary ones
            decisions = np.where(rng.random(decisions.shape) < 0.5, 1e-12 * decisions, decisions)
        decisions = np.where(rng.random(decisions.shape) < 0.6, decisions, np.nan)
        targets, change = execution_targets(decisions, "weight", config.fill)
        sym_idx = np.arange(S)[None, :]
        assert _Lane(m, config, sym_idx[0], "weight").frictionless()
        a = Simulator(m, config, sym_idx, "weight").run(targets, change)
        _same(a, run_single_lane(m, config, sym_idx, "weight", targets, change), m, sym_idx, config.initial_cash)
    assert calls["fit_cash"] > 0 and calls["step"] > 0  # both hand-offs were exercised


@pytest.mark.parametrize("shares", ["fractional", "integer"])
@pytest.mark.parametrize("fill", ["next_open", "next_close", "same_close"])
def test_frictionless_lane_kernel_equals_simulator(fill: str, shares: str) -> None:
    """The lean lane kernel reproduces `Simulator` bit for bit, with fractional shares and with whole
    shares (small accounts: buys rounded to zero, scaled to the cash, one share off when stuck)."""
    rng = np.random.default_rng({"next_open": 1, "next_close": 2, "same_close": 3}[fill] + 10 * (shares == "integer"))
    for it in range(12):
        S, T = int(rng.integers(1, 4)), int(rng.integers(3, 200))
        bars = gbm_bars([f"{600000 + i:06d}.SH" for i in range(S)], sessions=T, seed=it)
        config = EngineConfig(preset="plain", shares=shares, initial_cash=float(10 ** rng.uniform(1, 10)), fill=fill)
        m = prepare_market(bars, config)
        L = int(rng.integers(1, 30))
        sym_idx = rng.integers(0, S, (L, 1))
        decisions = _lane_decisions(rng, T, L, it, tiny=True)
        targets, change = execution_targets(decisions, "weight", fill)
        assert plain_lanes_applicable(m, config, sym_idx, "weight")
        a = Simulator(m, config, sym_idx, "weight").run(targets, change)
        _same(a, run_plain_lanes(m, config, sym_idx, targets, change), m, sym_idx, config.initial_cash)


def _lane_decisions(rng: np.random.Generator, T: int, L: int, it: int, *, tiny: bool) -> np.ndarray:
    """Random (T, L, 1) weights by `it % 3`: all-in/flat, sparse (NaN: no decision), or (`tiny`) positions of at
    most 1e-6 shares, else dense."""
    decisions = rng.random((T, L, 1))
    if it % 3 == 0:
        return (decisions > 0.5).astype(float)
    if it % 3 == 1:
        return np.where(rng.random((T, L, 1)) < 0.3, decisions, np.nan)
    if tiny:
        return np.where(rng.random((T, L, 1)) < 0.5, 1e-12 * decisions, decisions)
    return decisions


@pytest.mark.parametrize("tail", [0, 3, 10_000])
@pytest.mark.parametrize("shares", ["fractional", "integer"])
@pytest.mark.parametrize("fill", ["next_open", "next_close", "same_close"])
def test_cost_lane_kernel_equals_simulator(fill: str, shares: str, tail: int, monkeypatch) -> None:
    """The lean lane kernel with costs (`kernel_lanes`: lots, commission with its minimum, stamp duty,
    transfer fee, slippage, T+1 on daily bars) reproduces `Simulator` bit for bit — vector steps only, a
    few lanes finishing alone on Python floats, or (whole shares) every lane alone — on the `a-share`
    preset and on `plain` with commission and slippage, with boards of other lot sizes and small accounts
    (buys rounded to zero or scaled to the cash)."""
    import quant.kernel_lanes as kl

    monkeypatch.setattr(kl, "TAIL_LANES", tail)
    tails = {"n": 0}
    original = kl._tail

    def spy(*args):
        tails["n"] += 1
        return original(*args)

    monkeypatch.setattr(kl, "_tail", spy)
    rng = np.random.default_rng([["next_open", "next_close", "same_close"].index(fill), shares == "integer", tail])
    reasons, applied = set(), 0
    for it in range(16):
        S, T = int(rng.integers(1, 4)), int(rng.integers(3, 200))
        bars = gbm_bars(SYMBOLS[:S], sessions=T, seed=300 + it, sigma=float(rng.uniform(0.1, 0.4)))
        config = EngineConfig(
            preset=["a-share", "plain"][it % 2],
            shares=shares,
            initial_cash=float(10 ** rng.uniform(2, 8)),
            fill=fill,
            slippage_bps=float(rng.choice([0, 3, 50])),
            commission_rate=None if it % 4 < 2 else 0.0003,
        )
        m = prepare_market(bars, config)
        L = int(rng.integers(2, 30))
        sym_idx = rng.integers(0, S, (L, 1))
        decisions = _lane_decisions(rng, T, L, it, tiny=False)
        targets, change = execution_targets(decisions, "weight", fill)
        if not kl.cost_lanes_applicable(m, config, sym_idx, "weight"):
            continue  # a limit day in the random prices
        applied += 1
        a = Simulator(m, config, sym_idx, "weight").run(targets, change)
        before = tails["n"]
        out = kl.run_cost_lanes(m, config, sym_idx, targets, change)
        _same(a, out, m, sym_idx, config.initial_cash)
        if config.rules().fractional:
            assert tails["n"] == before  # fractional shares (dust) keep the vector path to the end
        reasons |= set(a.orders["reason"].tolist())
    assert applied >= 10
    assert {REASONS.index("LOT_ROUNDED_TO_ZERO"), REASONS.index("INSUFFICIENT_CASH")} <= reasons
    assert (tails["n"] > 0) == (tail > 0)


def test_plain_whole_share_grids_take_the_cost_lanes_and_equal_simulator(monkeypatch) -> None:
    """`run_kernel` hands a `plain` whole-share run of more than `TAIL_LANES` lanes to `run_cost_lanes`
    (whose last lanes finish alone), fractional shares and fewer lanes to `run_plain_lanes`; both equal
    `Simulator`."""
    import quant.kernel_plain as kp
    from quant.kernel_lanes import TAIL_LANES

    used = []
    for name in ("run_cost_lanes", "run_plain_lanes"):
        original = getattr(kp, name)
        monkeypatch.setattr(kp, name, lambda *a, _o=original, _n=name: used.append(_n) or _o(*a))
    rng = np.random.default_rng(8)
    bars = gbm_bars(["600000.SH", "600001.SH"], sessions=300, seed=8)
    for shares, L in (("integer", TAIL_LANES + 20), ("integer", TAIL_LANES), ("fractional", TAIL_LANES + 20)):
        config = EngineConfig(preset="plain", shares=shares, initial_cash=float(10 ** rng.uniform(2, 7)))
        m = prepare_market(bars, config)
        sym_idx = rng.integers(0, 2, (L, 1))
        targets, change = execution_targets((rng.random((300, L, 1)) > 0.5).astype(float), "weight", config.fill)
        used.clear()
        out = run_kernel(m, config, sym_idx, "weight", targets, change)
        assert used == ["run_cost_lanes" if shares == "integer" and L > TAIL_LANES else "run_plain_lanes"]
        a = Simulator(m, config, sym_idx, "weight").run(targets, change)
        _same(a, out, m, sym_idx, config.initial_cash)


def test_cost_lane_kernel_steps_aside_when_an_order_can_be_blocked_or_retried() -> None:
    """Limit days, suspensions, several bars a session (T+1), a volume cap and exit rules take
    `Simulator`; a lane whose buy needs `_fit_cash`'s 50 rounds alone hands the run back to it too."""
    from quant.kernel_lanes import cost_lanes_applicable

    bars = gbm_bars(["600000.SH"], sessions=120, seed=3, sigma=0.2)
    config = EngineConfig(preset="a-share")
    sym_idx = np.zeros((4, 1), np.int64)
    assert cost_lanes_applicable(prepare_market(bars, config), config, sym_idx, "weight")
    assert not cost_lanes_applicable(prepare_market(bars, config), config, sym_idx[:1], "weight")
    assert not cost_lanes_applicable(prepare_market(bars, config), config, sym_idx, "shares")
    jump = bars.with_columns(
        pl.when(pl.int_range(pl.len()) == 60).then(pl.col(c) * 1.2).otherwise(pl.col(c)).alias(c)
        for c in ("open", "high", "low", "close")
    )
    assert prepare_market(jump, config).buy_block.any()
    assert not cost_lanes_applicable(prepare_market(jump, config), config, sym_idx, "weight")
    step = pl.duration(hours=5) * pl.int_range(pl.len())
    hourly = normalize_bars(bars).with_columns((pl.col("ts").min() + step).alias("ts"))
    hourly = hourly.with_columns(pl.col("ts").dt.date().alias("date"))
    plain = EngineConfig(preset="plain", commission_rate=0.0003)  # no T+1
    assert cost_lanes_applicable(prepare_market(hourly, plain), plain, sym_idx, "weight")
    assert not cost_lanes_applicable(prepare_market(hourly, config), config, sym_idx, "weight")
    for extra in ({"volume_cap": 0.1}, {"stop_loss": 0.05}):
        cfg = EngineConfig(preset="a-share", **extra)
        assert not cost_lanes_applicable(prepare_market(bars, cfg), cfg, sym_idx, "weight")


def test_cost_lanes_hand_a_fifty_round_buy_back_to_the_simulator(monkeypatch) -> None:
    """`run_cost_lanes` returns None when a tail lane's buy would need `_fit_cash`'s 50 rounds (in
    `Simulator` they zero every buy of the step, which a lane alone cannot see); `run_kernel` then runs
    `Simulator`."""
    import quant.kernel_lanes as kl

    bars = gbm_bars(["600000.SH"], sessions=80, seed=4, sigma=0.2)
    config = EngineConfig(preset="a-share", initial_cash=1e6)
    m = prepare_market(bars, config)
    rng = np.random.default_rng(2)
    targets, change = execution_targets((rng.random((80, 6, 1)) > 0.5).astype(float), "weight", config.fill)
    sym_idx = np.zeros((6, 1), np.int64)
    monkeypatch.setattr(kl, "TAIL_LANES", 10_000)
    assert kl.run_cost_lanes(m, config, sym_idx, targets, change) is not None
    monkeypatch.setattr(kl, "_floor", lambda x: math.floor(x) + 1)  # every rounding up: the fit never ends
    assert kl.run_cost_lanes(m, config, sym_idx, targets, change) is None
    a = Simulator(m, config, sym_idx, "weight").run(targets, change)
    _same(a, run_kernel(m, config, sym_idx, "weight", targets, change), m, sym_idx, config.initial_cash)


@pytest.mark.parametrize("fill", ["next_open", "next_close", "same_close"])
def test_whole_share_single_lane_takes_the_scalar_lean_path_and_equals_simulator(fill: str, monkeypatch) -> None:
    """One plain account in whole shares (a `run_backtest` of the `plain` preset) runs the lean kernel's
    scalar `_single` — not `kernel_scalar` — and reproduces `Simulator` bit for bit, with small accounts
    (buys rounded to zero) and large ones."""
    import quant.kernel_plain as kp

    def refuse(*args, **kwargs):
        raise AssertionError("the general single-account kernel was used")

    monkeypatch.setattr(kp, "run_single_lane", refuse)
    rng = np.random.default_rng({"next_open": 4, "next_close": 5, "same_close": 6}[fill])
    reasons = set()
    for it in range(40):
        T = int(rng.integers(3, 250))
        bars = gbm_bars(["600000.SH"], sessions=T, seed=200 + it, sigma=float(rng.uniform(0.2, 1.5)))
        config = EngineConfig(preset="plain", shares="integer", initial_cash=float(10 ** rng.uniform(0, 8)), fill=fill)
        m = prepare_market(bars, config)
        decisions = rng.random((T, 1, 1))
        if it % 3 == 0:
            decisions = (decisions > 0.5).astype(float)
        elif it % 3 == 1:
            decisions = np.where(rng.random((T, 1, 1)) < 0.3, decisions, np.nan)
        targets, change = execution_targets(decisions, "weight", fill)
        sym_idx = np.zeros((1, 1), np.int64)
        a = Simulator(m, config, sym_idx, "weight").run(targets, change)
        _same(a, run_kernel(m, config, sym_idx, "weight", targets, change), m, sym_idx, config.initial_cash)
        reasons |= set(a.orders["reason"].tolist())
    assert REASONS.index("LOT_ROUNDED_TO_ZERO") in reasons


def test_scalar_whole_share_rounding_and_cash_fit_equal_the_vectorised_ones() -> None:
    """`_whole1` / `_fit_cash_whole1` (one float) give `_whole` / `_fit_cash_whole` (arrays) bit for bit,
    including orders over the cash by a rounding error (the one-share-off step) and far over it."""
    from quant.kernel_plain import _fit_cash_whole, _fit_cash_whole1, _whole, _whole1

    rng = np.random.default_rng(9)
    n = 4000
    p = 10 ** rng.uniform(-1, 3, n)
    q = np.floor(10 ** rng.uniform(-1, 6, n))
    near = q * p * (1 + rng.choice([-1e-15, 0, 1e-15, -0.3], n))  # at the cost, a rounding error off, short
    cash = np.where(rng.random(n) < 0.5, near, 10 ** rng.uniform(0, 9, n))
    raw = np.concatenate([q + rng.uniform(-1e-8, 1e-8, n), rng.uniform(-2, 3, n), [0.0, 1.0 - 1e-9, 1.0, np.inf]])
    assert [_whole1(x) for x in raw.tolist()] == _whole(raw).tolist()
    fitted = _fit_cash_whole(q, p, cash)
    assert [_fit_cash_whole1(*v) for v in zip(q.tolist(), p.tolist(), cash.tolist(), strict=True)] == fitted.tolist()
    assert (fitted < q).any()


@pytest.mark.parametrize("shares", ["fractional", "integer"])
def test_lane_kernel_reads_lane_major_targets_as_c_ordered_ones(shares: str) -> None:
    """Grids and independent runs hand the kernel the strategy's (lanes × bars) rows as a transposed view
    (`rows_to_decisions(contiguous=False)`); the execution targets keep that layout and every kernel path
    (lean lanes, single lane, `Simulator`) gives the same output as from C-ordered panels."""
    rng = np.random.default_rng(21 + (shares == "integer"))
    for it in range(8):
        T, L = int(rng.integers(3, 200)), int(rng.integers(1, 30))
        bars = gbm_bars(["600000.SH"], sessions=T, seed=it)
        for preset in ("plain", "a-share"):
            config = EngineConfig(preset=preset, shares=shares, initial_cash=float(10 ** rng.uniform(3, 8)))
            m = prepare_market(bars, config)
            rows = np.where(rng.random((L, T)) < 0.4, rng.random((L, T)), np.nan if it % 2 else 0.0)
            view = rows.reshape(L, 1, T).transpose(2, 0, 1)
            lanes = max(1, L if preset == "plain" else 1)
            sym_idx = np.zeros((lanes, 1), np.int64)
            view, dense = view[:, :lanes], np.ascontiguousarray(view[:, :lanes])
            t_view, c_view = execution_targets(view, "weight", config.fill)
            t_dense, c_dense = execution_targets(dense, "weight", config.fill)
            assert not t_view.flags.c_contiguous or lanes == 1
            assert np.array_equal(t_view, t_dense) and np.array_equal(c_view, c_dense)
            a = run_kernel(m, config, sym_idx, "weight", t_dense, c_dense)
            _same(a, run_kernel(m, config, sym_idx, "weight", t_view, c_view), m, sym_idx, config.initial_cash)


def test_simulator_reads_lane_major_targets_as_c_ordered_ones() -> None:
    """An a-share grid's `Simulator` gets the lane-major (transposed) execution targets without a copy and
    gives the same output as from C-ordered panels."""
    rng = np.random.default_rng(31)
    for it in range(6):
        T, L = int(rng.integers(3, 150)), int(rng.integers(2, 20))
        bars = gbm_bars(["600000.SH"], sessions=T, seed=50 + it)
        config = EngineConfig(preset="a-share", initial_cash=float(10 ** rng.uniform(4, 7)))
        m = prepare_market(bars, config)
        rows = np.where(rng.random((L, T)) < 0.4, rng.random((L, T)), np.nan)
        view = rows.reshape(L, 1, T).transpose(2, 0, 1)
        t_view, c_view = execution_targets(view, "weight", config.fill)
        t_dense, c_dense = execution_targets(np.ascontiguousarray(view), "weight", config.fill)
        assert not t_view.flags.c_contiguous
        sym_idx = np.zeros((L, 1), np.int64)
        a = Simulator(m, config, sym_idx, "weight").run(t_dense, c_dense)
        _same(a, run_kernel(m, config, sym_idx, "weight", t_view, c_view), m, sym_idx, config.initial_cash)


def test_numpy_result_frames_equal_polars_assembly() -> None:
    rng = np.random.default_rng(5)
    for it in range(10):
        bars = _rough_bars(rng, it, int(rng.integers(1, 6)), int(rng.integers(20, 120)), intraday=it % 3 == 0)
        config = EngineConfig(preset=["a-share", "plain"][it % 2], shares=["integer", "fractional"][(it // 2) % 2])
        instruments = default_instruments(bars["symbol"].unique(maintain_order=True).to_list())
        m = prepare_market(bars, config, instruments.with_columns(pl.lit(dt.date(2015, 1, 2)).alias("list_date")))
        N = len(m.symbols)
        decisions = np.where(rng.random((m.shape[0], 1, N)) < 0.3, rng.random((m.shape[0], 1, N)) / N, np.nan)
        targets, change = execution_targets(decisions, "weight", config.fill)
        out = Simulator(m, config, np.arange(N)[None, :], "weight").run(targets, change)
        orders, fills, trades = lane_frames(out, m, 0)
        ref_orders = orders_frame(out, m, 0).with_columns(pl.col("date").cast(pl.Date))
        ref_fills = fills_frame(ref_orders)
        sessions = {d: i for i, d in enumerate(np.unique(m.dates).astype(dt.date))}
        assert orders.equals(ref_orders)
        assert fills.equals(ref_fills)
        assert trades.equals(round_trips(ref_fills, sessions))


def test_exit_rules_agree_between_lanes_and_single_accounts() -> None:
    """With exit rules (`quant.stops`), `Simulator` over many lanes gives each lane exactly what the
    scalar kernel gives that lane alone, and every exit reason occurs."""
    rng = np.random.default_rng(5)
    seen = set()
    for it in range(24):
        bars = _rough_bars(rng, 100 + it, int(rng.integers(1, 4)), int(rng.integers(10, 90)), intraday=it % 2 == 0)
        config = EngineConfig(
            preset=["a-share", "plain"][it % 2],
            fill=["next_open", "next_close", "same_close"][it % 3],
            shares=["integer", "fractional"][(it // 2) % 2],
            initial_cash=float(10 ** rng.uniform(4, 7)),
            **_random_exits(rng),
        )
        m = prepare_market(bars, config)
        N, L = len(m.symbols), 3
        decisions = (rng.random((m.shape[0], L, N)) > 0.6) * (1.0 / N)
        decisions = np.where(rng.random(decisions.shape) < 0.3, decisions, np.nan)
        targets, change = execution_targets(decisions, "weight", config.fill)
        sym_idx = np.tile(np.arange(N), (L, 1))
        whole = Simulator(m, config, sym_idx, "weight").run(targets, change)
        for lane in range(L):
            one = run_single_lane(
                m, config, sym_idx[lane : lane + 1], "weight", targets[:, lane : lane + 1], change[:, lane : lane + 1]
            )
            _same(_lane_of(whole, lane), one, m, sym_idx[lane : lane + 1], config.initial_cash)
        seen |= {REASONS[r] for r in whole.orders["reason"].tolist()}
    assert {"STOP_LOSS", "TAKE_PROFIT", "TRAILING_STOP"} <= seen


def _lane_of(out, lane: int):
    """One lane of a multi-lane `KernelOut`, renumbered as lane 0."""
    from quant.kernel import KernelOut

    keep = out.orders["lane"] == lane
    orders = {k: v[keep] for k, v in out.orders.items()}
    orders["lane"] = orders["lane"] * 0
    st, pc = out.state_lane == lane, out.pos_lane == lane
    T, _, K = out.shape
    return KernelOut(
        orders, out.state_lane[st] * 0, out.state_t[st], out.state_cash[st], out.pos_lane[pc] * 0, out.pos_k[pc],
        out.pos_t[pc], out.pos_value[pc], out.ca_paid[lane : lane + 1], (T, 1, K),
    )  # fmt: skip


@pytest.mark.parametrize("fill", ["next_open", "next_close", "same_close"])
@pytest.mark.parametrize("mode", ["weight", "shares"])
def test_execution_targets_by_row_equal_the_vectorised_fill(fill: str, mode: str, monkeypatch) -> None:
    """The bar-by-bar forward fill of wide panels (`_execution_targets_by_row`, taken from
    `ROW_FILL_CELLS` cells per bar, in a copy or over its input) gives the vectorised path's targets and
    changes to the bit: gaps (NaN, and ±inf only when some value is NaN), negatives, weights above 1 and rows
    summing above 1, one or many symbols."""
    from quant import engine

    rng = np.random.default_rng(31 + (mode == "shares") + 2 * len(fill))
    for it in range(12):
        T, L, K = int(rng.integers(2, 40)), int(rng.integers(1, 3)), int(rng.integers(1, 9))
        scale = 1.0 if mode == "weight" else 500.0
        values = np.round(rng.uniform(-0.2, 1.3 if it % 3 else 0.3, (T, L, K)) * scale, 3)
        gaps = rng.random((T, L, K)) < (0.0 if it % 4 == 0 else 0.7)
        decisions = np.where(gaps, np.nan, values)
        if it % 4 == 1:
            decisions[rng.random((T, L, K)) < 0.05] = np.inf
        if it % 4 == 0:
            decisions[rng.random((T, L, K)) < 0.05] = -np.inf if it % 8 else np.inf
        decisions[:, :, 0][rng.random(T) < 0.3] = -0.0
        monkeypatch.setattr(engine, "ROW_FILL_CELLS", 10**9)
        want = execution_targets(decisions, mode, fill)
        monkeypatch.setattr(engine, "ROW_FILL_CELLS", 1)
        given = decisions.copy()
        for overwrite in (False, True):
            got = execution_targets(given, mode, fill, overwrite=overwrite)
            assert (got[0] is given) == overwrite
            for a, b in zip(got, want, strict=True):
                assert a.dtype == b.dtype and a.shape == b.shape
                assert a.tobytes() == b.tobytes(), (it, T, L, K, overwrite)
            assert overwrite or given.tobytes() == decisions.tobytes()


def test_symbol_index_maps_known_symbols_and_gives_minus_one_otherwise() -> None:
    """`align_targets`' symbol lookup: a string column by one polars mapping, other dtypes by a dictionary."""
    from quant.engine import _symbol_index

    symbols = ["000001.SZ", "300750.SZ", "600000.SH"]
    column = pl.Series("symbol", ["600000.SH", None, "999999.SH", "000001.SZ", "300750.SZ", ""])
    for col in (column, column.cast(pl.Categorical)):
        assert _symbol_index(symbols, col).tolist() == [2, -1, -1, 0, 1, -1]
    assert _symbol_index(symbols, pl.Series("symbol", [], pl.String)).tolist() == []


def test_session_days_are_the_distinct_bar_dates() -> None:
    """`session_days` (a gather at the session ends) is `np.unique(m.dates)`, for daily and intraday bars
    and on a sparse (ragged) market."""
    from quant.results import session_days, session_ends

    rng = np.random.default_rng(3)
    for it in range(6):
        bars = _rough_bars(rng, it, int(rng.integers(1, 5)), int(rng.integers(2, 60)), intraday=it % 2 == 0)
        if it % 3 == 2:  # a ragged market: some symbols lack some bars
            bars = bars.filter(pl.Series(rng.random(bars.height) < 0.8))
        m = prepare_market(bars, EngineConfig(preset="plain"))
        days = session_days(m, session_ends(m))
        assert days.dtype == np.dtype("datetime64[D]")
        assert np.array_equal(days, np.unique(m.dates))


def test_latest_snapshot_runs_equal_the_forward_filled_panel() -> None:
    """`_latest_snapshot` (runs by `np.repeat`) is the −1 panel with each snapshot's index at its bar,
    forward-filled down the bars — with lanes without snapshots, snapshots on the first and last bar and
    two snapshots on one bar (the later wins)."""
    from quant.results import _latest_snapshot

    rng = np.random.default_rng(8)
    for it in range(200):
        T, n = int(rng.integers(1, 60)), int(rng.integers(1, 12))
        counts = rng.integers(0, 8, n) * (rng.random(n) < 0.8)
        t = np.concatenate([np.sort(rng.integers(0, T, c)) for c in counts]).astype(np.int64)
        lane = np.repeat(np.arange(n), counts)
        bounds = np.append(0, np.cumsum(counts))
        want = np.full((T, n), -1, np.int64)
        want[t, lane] = np.arange(t.size)  # duplicates: numpy assigns in order, the later index stays
        np.maximum.accumulate(want, axis=0, out=want)
        got = _latest_snapshot(bounds, t, T)
        assert got.flags.c_contiguous and np.array_equal(got, want), it


def test_lane_major_panels_are_the_blocks_transposed() -> None:
    """`LanePanels.lane_major` gives `block`'s (cash, market value) transposed, bit for bit, for lanes on
    one shared symbol, one symbol each (`sym_range`), gathered symbols, marks with gaps (suspensions), and
    any sub-range of lanes; None for a `Simulator` output (no shares per snapshot)."""
    from quant.results import LanePanels

    rng = np.random.default_rng(13)
    for it in range(12):
        S, T = int(rng.integers(1, 4)), int(rng.integers(5, 150))
        bars = _rough_bars(rng, it, S, T, intraday=False) if it % 3 == 2 else gbm_bars(SYMBOLS[:S], sessions=T, seed=it)
        config = EngineConfig(preset="plain", shares=["integer", "fractional"][it % 2])
        m = prepare_market(bars, config)
        L = [S, int(rng.integers(2, 30)), int(rng.integers(2, 30))][it % 3]
        sym_idx = (np.arange(S) if L == S else rng.integers(0, S, L) * (it % 4 != 1))[:, None]
        decisions = rng.random((m.shape[0], L, 1)) * (rng.random((m.shape[0], L, 1)) < 0.3)
        targets, change = execution_targets(decisions, "weight", config.fill)
        out = run_kernel(m, config, sym_idx, "weight", targets, change)
        if out.state_pos is None:  # a suspension: `Simulator`
            assert LanePanels(out, m, sym_idx, config.initial_cash).lane_major(0, L) is None
            continue
        panels = LanePanels(out, m, sym_idx, config.initial_cash)
        for lo, hi in ((0, L), (0, 1), (L // 2, L)):
            cash, mv = panels.block(lo, hi)
            lm_cash, lm_mv = panels.lane_major(lo, hi)
            assert np.array_equal(lm_cash.T, cash) and np.array_equal(lm_mv.T, mv), it


def test_lane_order_is_the_stable_argsort() -> None:
    """`_lane_order` (16-bit radix keys when the lane numbers fit) is `np.argsort(kind="stable")` of them."""
    from quant.results import _lane_order

    rng = np.random.default_rng(4)
    for L in (1, 7, 300, 32767, 40000):
        lane = rng.integers(0, L, int(rng.integers(0, 5000))).astype(np.int64)
        assert np.array_equal(_lane_order(lane, L), np.argsort(lane, kind="stable")), L


def test_lane_index_equals_the_forward_filled_panel_in_and_out_of_bar_order() -> None:
    """`_lane_index` gives the forward-filled panel of the latest record per lane for a block of lanes,
    whether each lane's records come in bar order (run lengths) or not (the accumulate it reproduces)."""
    from quant.results import _by_lane, _lane_index

    rng = np.random.default_rng(12)
    for it in range(100):
        T, L = int(rng.integers(1, 50)), int(rng.integers(1, 10))
        n = int(rng.integers(0, 60))
        lane, t = rng.integers(0, L, n), rng.integers(0, T, n)
        if it % 2:  # time order, as the kernels record
            order = np.lexsort((lane, t))
            lane, t = lane[order], t[order]
        grouped = _by_lane(lane, L, t, np.arange(n, dtype=float))
        lo = int(rng.integers(0, L))
        hi = int(rng.integers(lo + 1, L + 1))
        bounds, gt, gl = grouped[0], grouped[1], grouped[2]
        a, b = bounds[lo], bounds[hi]
        want = np.full((T, hi - lo), -1, np.int64)
        want[gt[a:b], gl[a:b] - lo] = np.arange(b - a)
        np.maximum.accumulate(want, axis=0, out=want)
        assert np.array_equal(_lane_index(grouped, lo, hi, T), want), it


@pytest.mark.parametrize("fill", ["next_open", "next_close", "same_close"])
def test_all_in_or_flat_one_slot_lanes_get_boolean_targets(fill: str, monkeypatch) -> None:
    """One-slot lanes whose weights are all exactly 1.0 or +0.0 (`ma_cross` on one symbol) get boolean
    execution targets in the decisions' layout — the float path's values and changes, one byte a cell —
    and every kernel path (lean lanes fractional and whole, with costs, one lane, the scalar kernel,
    `Simulator`) gives the same output from them as from the float targets. −0.0, NaN, other weights and
    several slots a lane keep float targets."""
    import quant.engine as engine

    rng = np.random.default_rng([11, ["next_open", "next_close", "same_close"].index(fill)])
    for it in range(6):
        T, L = int(rng.integers(3, 200)), int(rng.integers(1, 30))
        rows = (rng.random((L, T)) < rng.uniform(0.2, 0.8)).astype(float)
        view = rows.reshape(L, 1, T).transpose(2, 0, 1)
        got = execution_targets(view, "weight", fill)
        with monkeypatch.context() as patch:
            patch.setattr(engine, "_unit_flags", lambda decisions: None)
            want = execution_targets(view, "weight", fill)
        assert got[0].dtype == np.bool_ and want[0].dtype == np.float64
        assert got[0].strides[1] > got[0].strides[0] or L == 1  # lane-major, as the decisions
        assert np.array_equal(got[0], want[0]) and np.array_equal(got[1], want[1])
        bars = gbm_bars(["600000.SH"], sessions=T, seed=70 + it)
        for preset, shares in (("plain", "fractional"), ("plain", "integer"), ("a-share", "integer")):
            for exits in ({}, {"stop_loss": 0.05}):  # exit rules: the scalar kernel and `Simulator`
                config = EngineConfig(preset=preset, shares=shares, fill=fill, **exits)
                m = prepare_market(bars, config)
                for lanes in (L, 1):
                    sym_idx = np.zeros((lanes, 1), np.int64)
                    bool_out = run_kernel(m, config, sym_idx, "weight", got[0][:, :lanes], got[1][:, :lanes])
                    float_out = run_kernel(m, config, sym_idx, "weight", want[0][:, :lanes], want[1][:, :lanes])
                    _same(float_out, bool_out, m, sym_idx, config.initial_cash)
    ones = np.ones((50, 3, 1))
    for odd in (-0.0, np.nan, 0.5, 2.0):
        decisions = ones.copy()
        decisions[7, 1, 0] = odd
        assert execution_targets(decisions, "weight", fill)[0].dtype == np.float64, odd
    assert execution_targets(np.ones((50, 1, 2)), "weight", fill)[0].dtype == np.float64  # a bar's sum can exceed 1
    assert execution_targets(np.zeros((50, 3, 1)), "weight", fill)[0].dtype == np.float64  # nothing to gain
