"""The event-driven engine's execution is the kernel's: an order stream stating the kernel's target changes
replays into the one-account kernel's output bit for bit (random bars with suspensions, corporate actions,
ST flags and intraday sessions, every fill mode and preset, volume caps, slippage, low cash), and the
strategy-facing API behaves as documented (on_order, cancel, relative orders, instruments, history,
schedules, same_close)."""

from __future__ import annotations

import contextlib
import io

import numpy as np
import polars as pl
import pytest

from quant import EngineConfig, run_backtest
from quant.engine import execution_targets
from quant.event import replay
from quant.kernel import REASONS
from quant.kernel_scalar import run_single_lane
from quant.market import prepare_market
from quant.strategy import StrategyError, load_strategy
from quant.synthetic import gbm_bars
from tests.quant.test_engine_kernels import _rough_bars, _same


def _stream(m, targets: np.ndarray, change: np.ndarray, mode: str) -> pl.DataFrame:
    t, k = np.nonzero(change[:, 0, :])
    return pl.DataFrame(
        {
            "ts": pl.Series(m.ts[t], dtype=pl.Datetime("us")),
            "symbol": [m.symbols[i] for i in k.tolist()],
            "amount": targets[t, 0, k],
            "order": ["target_percent" if mode == "weight" else "target_shares"] * t.size,
            "limit_price": pl.Series([None] * t.size, dtype=pl.Float64),
        }
    )


def test_a_replayed_order_stream_equals_the_one_account_kernel() -> None:
    rng = np.random.default_rng(23)
    seen = set()
    for it in range(60):
        bars = _rough_bars(rng, it, int(rng.integers(1, 6)), int(rng.integers(3, 60)), intraday=it % 2 == 0)
        config = EngineConfig(
            preset=["a-share", "plain"][it % 2],
            fill=["next_open", "next_close", "same_close"][it % 3],
            initial_cash=float(10 ** rng.uniform(3, 8)),
            volume_cap=None if it % 3 else float(10 ** rng.uniform(-6, -1)),
            slippage_bps=float(rng.choice([0, 3, 50])),
            shares=["integer", "fractional"][(it // 2) % 2],
            limit_policy=["touch", "locked"][(it // 3) % 2],
            # engine-level exit rules on a third of the runs: the event engine judges the kernels' StopBook
            **([{}, {"stop_loss": 0.03, "trailing_stop": 0.05}, {"take_profit": 0.02}][(it // 3) % 3]),
        )
        m = prepare_market(bars, config)
        N = len(m.symbols)
        mode = "shares" if it % 5 == 3 else "weight"
        decisions = rng.random((m.shape[0], 1, N))
        if mode == "shares":
            decisions = np.round(decisions * 5000, -2 if it % 2 else 0)
        decisions = np.where(rng.random(decisions.shape) < 0.4, decisions, np.nan)
        targets, change = execution_targets(decisions, mode, config.fill)
        kernel = run_single_lane(m, config, np.arange(N)[None, :], mode, targets, change)
        events = replay(m, config, bars, _stream(m, targets, change, mode)).kernel_out()
        _same(kernel, events, m, np.arange(N)[None, :], config.initial_cash)
        seen |= set(kernel.orders["reason"].tolist())
    kernel_reasons = ("", "SUSPENDED", "LIMIT_UP_LOCKED", "LIMIT_DOWN_LOCKED", "T1_LOCKED", "LOT_ROUNDED_TO_ZERO")
    assert seen >= {REASONS.index(r) for r in (*kernel_reasons, "VOLUME_CAP", "INSUFFICIENT_CASH")}
    assert seen >= {REASONS.index(r) for r in ("STOP_LOSS", "TRAILING_STOP", "TAKE_PROFIT")}


def _run(source: str, bars: pl.DataFrame, config: EngineConfig | None = None, params: dict | None = None):
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        result = run_backtest(load_strategy(source), bars, params or {}, config or EngineConfig(initial_cash=100_000))
    return result, out.getvalue().splitlines()


BARS = gbm_bars(("600000.SH", "000001.SZ"), sessions=30, seed=5)


def test_on_order_cancel_and_relative_orders() -> None:
    source = """
from quant.sdk import cancel_order, log, order_shares, order_value

def initialize(context):
    context.n = 0

def on_order(context, order):
    log(f"{order.id} {order.kind} {order.side} {order.status} {order.filled:g}")

def handle_bar(context, bar):
    context.n += 1
    if context.n == 1:
        order_value("600000.SH", 30000)
        cancel_order(order_shares("000001.SZ", 500))
    if context.n == 3:
        order_shares("600000.SH", -context.portfolio.positions["600000.SH"].quantity)
"""
    result, lines = _run(source, BARS)
    assert lines[0] == "2 shares None cancelled 0"
    kind, side, status = lines[1].split()[1:4]
    assert (kind, side, status) == ("value", "buy", "filled")
    assert lines[2].split()[1:4] == ["shares", "sell", "filled"]
    assert result.fills["side"].to_list() == ["buy", "sell"] and result.fills["symbol"].unique().to_list() == [
        "600000.SH"
    ]
    price, qty = result.fills["price"][0], result.fills["qty"][0]
    assert qty % 100 == 0 and qty * price <= 30000 < (qty + 100) * price  # the lots worth 30000 at the open
    assert result.fills["qty"][1] == qty  # the relative sell of the whole position


def test_history_instrument_schedules_and_hooks() -> None:
    source = """
from quant.sdk import attribute_history, history, log, run_weekly

def initialize(context):
    run_weekly(weekly, 1, time="close")

def weekly(context):
    log(f"weekly {context.current_dt:%Y-%m-%d %a}")

def before_trading(context):
    context.opened = len(history("600000.SH", 3))

def after_trading(context):
    pass

def handle_bar(context, bar):
    closes = history("600000.SH", 3)
    assert closes[-1] == bar["600000.SH"].close
    assert list(attribute_history("600000.SH", 2, "1d", ["close"])["close"]) == list(closes[-2:])
    info = context.instrument("600000.SH")
    if context.current_dt.day == 8:
        log(f"{len(closes)} {context.opened} {info.board} {info.is_st} {info.up_limit is not None}")
"""
    bars = BARS.filter(pl.col("date") < pl.date(2015, 1, 20))
    _, lines = _run(source, bars)
    assert lines[0] == "weekly 2015-01-05 Mon"
    assert lines[1] == "3 3 main False True"
    assert lines[2] == "weekly 2015-01-12 Mon"
    closes = bars.filter(pl.col("symbol") == "600000.SH")["close"].to_list()
    assert closes[:2]  # the first bars were there to read


def test_same_close_fills_the_decision_bar() -> None:
    source = """
from quant.sdk import order_target_shares

def handle_bar(context, bar):
    if not context.portfolio.positions:
        order_target_shares("600000.SH", 100)
"""
    result, _ = _run(source, BARS, EngineConfig(initial_cash=100_000, fill="same_close"))
    first = BARS.filter(pl.col("symbol") == "600000.SH").row(0, named=True)
    assert result.fills.row(0, named=True)["ts"] == first["ts"]
    assert result.fills["price"][0] == first["close"]


def test_a_forged_order_stream_is_refused() -> None:
    m = prepare_market(BARS, EngineConfig())
    bad = pl.DataFrame(
        {
            "ts": pl.Series(m.ts[:1], dtype=pl.Datetime("us")),
            "symbol": ["999999.SH"],
            "amount": [1.0],
            "order": ["target_shares"],
            "limit_price": pl.Series([None], dtype=pl.Float64),
        }
    )
    with pytest.raises(StrategyError, match="unknown symbol or order kind"):
        replay(m, EngineConfig(), BARS, bad)
    nan = bad.with_columns(pl.lit("600000.SH").alias("symbol"), pl.lit(float("nan")).alias("amount"))
    with pytest.raises(StrategyError, match="amount"):
        replay(m, EngineConfig(), BARS, nan)


def test_the_benchmark_symbol_is_not_in_the_strategys_universe() -> None:
    """`benchmark_symbol` names a symbol of the bars: it is the benchmark, not a tradable symbol, both when the
    strategy runs and when its order stream is replayed."""
    from quant import simulate
    from quant.event import order_streams
    from quant.templates import load_template

    config = EngineConfig(benchmark_symbol="000001.SZ")
    [stream] = order_streams(load_template("ma_cross_port"), BARS, [{"fast": 3, "slow": 8}], config)
    assert stream.height > 0 and stream["symbol"].unique().to_list() == ["600000.SH"]
    replayed = simulate(BARS, stream, config, params={})
    direct = run_backtest("ma_cross_port", BARS, {"fast": 3, "slow": 8}, config)
    assert replayed.orders.equals(direct.orders) and replayed.equity.equals(direct.equity)
    assert direct.equity["benchmark_equity"].is_not_nan().all()


def test_joinquant_log_levels_write_the_run_log() -> None:
    source = """
from quant.sdk import log

def handle_data(context, data):
    if context.current_dt.day == 5:
        log.info("info", 1)
        log.warn("warn")
"""
    _, lines = _run(source, BARS.filter(pl.col("date") < pl.date(2015, 1, 7)))
    assert lines == ["info 1", "warn"]


@pytest.mark.parametrize("preset", ["a-share", "plain"])
@pytest.mark.parametrize(
    "exits",
    [{"stop_loss": 0.03}, {"take_profit": 0.04}, {"trailing_stop": 0.03}, {"stop_loss": 0.05, "trailing_stop": 0.04}],
)
def test_engine_exit_rules_give_the_vectorised_twin_bit_identical_orders(preset: str, exits: dict) -> None:
    """`ma_cross` with exit rules and its event-driven port `ma_cross_port` with the same rules: the same
    orders (with the STOP_LOSS / TAKE_PROFIT / TRAILING_STOP reasons), fills, positions and equity."""
    bars = gbm_bars(("600000.SH", "000001.SZ", "600519.SH"), sessions=400, seed=11)
    config = EngineConfig(preset=preset, **exits)
    params = {"fast": 5, "slow": 20}
    a, b = run_backtest("ma_cross", bars, params, config), run_backtest("ma_cross_port", bars, params, config)
    reasons = set(a.orders["reason"].drop_nulls().to_list())
    assert reasons & {"STOP_LOSS", "TAKE_PROFIT", "TRAILING_STOP"}, reasons
    for name in ("orders", "fills", "trades", "positions", "equity"):
        assert getattr(a, name).equals(getattr(b, name)), name


def test_an_engine_exit_is_the_strategys_next_bar_news() -> None:
    """An exit of the engine's rules shows in `context.orders` (reason STOP_LOSS) and flattens the position;
    it is not in the order stream (a replay fires it again) and the replay gives the same orders."""
    from quant import simulate
    from quant.event import order_streams

    source = """
from quant.sdk import log, order_target_percent

def handle_bar(context, bar):
    for o in context.orders:
        if o.reason == "STOP_LOSS":
            log.info(o.security, o.status, o.filled, context.portfolio.positions[o.security].quantity)
    if context.current_dt.day == 6 and context.current_dt.month == 1:
        order_target_percent("600000.SH", 0.5)
"""
    falling = BARS.with_columns(
        [
            (pl.col(c) * (1 - 0.01 * pl.int_range(pl.len()).over("symbol"))).alias(c)
            for c in ("open", "high", "low", "close")
        ]
    )
    config = EngineConfig(initial_cash=100_000, stop_loss=0.05)
    result, lines = _run(source, falling, config)
    stops = result.orders.filter(pl.col("reason") == "STOP_LOSS")
    assert stops.height == 1 and stops["side"].to_list() == ["sell"] and stops["status"].to_list() == ["filled"]
    assert len(lines) == 1 and lines[0].startswith("600000.SH filled") and lines[0].endswith(" 0.0")
    [stream] = order_streams(load_strategy(source), falling, [{}], config)
    assert stream.height == 1
    replayed = simulate(falling, stream, config, params={})
    assert replayed.orders.equals(result.orders)


def test_order_labels_reach_the_orders_and_the_stream() -> None:
    """`reason=` / `tag=` on an order: the orders' `tag` column (null on unlabelled ones), kept through the
    order stream's replay; a bad label is refused naming the bar."""
    from quant import simulate
    from quant.event import order_streams

    source = """
from quant.sdk import order_target, order_target_percent

def handle_bar(context, bar):
    if context.current_dt.day == 6 and context.current_dt.month == 1:
        order_target_percent("600000.SH", 0.5)
    if context.current_dt.day == 12 and context.current_dt.month == 1:
        order_target("600000.SH", 0, reason="STOP_LOSS")
"""
    config = EngineConfig(initial_cash=100_000)
    result, _ = _run(source, BARS, config)
    assert result.orders.select("side", "tag").rows() == [("buy", None), ("sell", "STOP_LOSS")]
    [stream] = order_streams(load_strategy(source), BARS, [{}], config)
    assert stream["tag"].to_list() == [None, "STOP_LOSS"]
    assert simulate(BARS, stream, config, params={}).orders.equals(result.orders)
    for bad in ("'stop loss'", "'x' * 33", "7"):
        with pytest.raises(StrategyError, match=r"bar 2015-01-12.*reason/tag is 1 to 32 characters"):
            _run(source.replace('reason="STOP_LOSS"', f"tag={bad}"), BARS, config)


def test_context_in_universe_reads_the_point_in_time_membership_of_the_bars() -> None:
    """`context.in_universe(symbol)` on each bar: the given frame's `in_universe` (a row without it: not a
    member), true everywhere for a frame without the column; the order stream path reads the same."""
    from quant.event import order_streams

    source = """
from quant.sdk import log

def handle_bar(context, bar):
    log(context.current_dt.date(), context.in_universe("600000.SH"), context.in_universe("000001.SZ"))
"""
    later = pl.int_range(pl.len()).over("symbol") >= 10  # 000001.SZ joins on its 11th bar
    members = BARS.with_columns(in_universe=(pl.col("symbol") == "600000.SH") | later)
    _, lines = _run(source, members)
    days = BARS.filter(pl.col("symbol") == "600000.SH")["date"].to_list()
    assert lines == [f"{d} True {i >= 10}" for i, d in enumerate(days)]
    _, plain = _run(source, BARS)
    assert plain == [f"{d} True True" for d in days]
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        order_streams(load_strategy(source), members, [{}], EngineConfig(initial_cash=100_000))
    assert out.getvalue().splitlines() == lines
