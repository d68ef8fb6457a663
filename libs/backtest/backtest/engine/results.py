"""Backtest results: equity curve, orders (incl. blocked), fills, round trips, end-of-day positions,
metrics and the reproducibility manifest; `write_artifacts` persists them as Parquet + CSV + JSON."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from backtest.engine import metrics as mx
from backtest.engine.kernel import REASONS, KernelOut
from backtest.engine.market import Market


@dataclass
class BacktestResult:
    """Everything one run produced. Frames are polars; `metrics` and `manifest` are JSON-ready dicts."""

    equity: pl.DataFrame
    orders: pl.DataFrame
    fills: pl.DataFrame
    trades: pl.DataFrame
    positions: pl.DataFrame
    metrics: dict
    manifest: dict


def _last_event(T: int, shape: tuple, t: np.ndarray, where: tuple, values: np.ndarray, initial: float):
    """Carry event values forward in time: panel (T, *shape) of the latest value at or before each bar."""
    idx = np.full((T, *shape), -1, dtype=np.int64)
    idx[(t, *where)] = np.arange(t.size)
    np.maximum.accumulate(idx, axis=0, out=idx)
    return np.append(values, initial)[idx]


def position_panel(out: KernelOut) -> np.ndarray:
    """Shares held per bar, lane and symbol slot (T, L, K), from the kernel's position changes."""
    T, L, K = out.shape
    return _last_event(T, (L, K), out.pos_t, (out.pos_lane, out.pos_k), out.pos_value, 0.0)


def lane_marks(m: Market, sym_idx: np.ndarray) -> np.ndarray:
    """Marking prices (T, L, K) with 0 where unknown; broadcast when every lane trades the same symbols."""
    mark = np.nan_to_num(m.mark)
    if sym_idx.shape[0] > 1 and (sym_idx == sym_idx[0]).all():
        return mark[:, None, sym_idx[0]]
    return mark[:, sym_idx]


def equity_panel(out: KernelOut, m: Market, sym_idx: np.ndarray, initial: float) -> tuple[np.ndarray, np.ndarray]:
    """Per-bar (cash, market value), each (T, L), from the kernel's events (marked at close)."""
    T, L, K = out.shape
    cash = _last_event(T, (L,), out.state_t, (out.state_lane,), out.state_cash, initial)
    pos, marks = position_panel(out), lane_marks(m, sym_idx)
    mv = pos[:, :, 0] * marks[:, :, 0] if K == 1 else (pos * marks).sum(axis=2)
    return cash, mv


def session_ends(m: Market) -> np.ndarray:
    """Index of the last bar of every session."""
    return np.flatnonzero(np.append(m.session[1:] != m.session[:-1], True))


def session_returns(equity: np.ndarray, ends: np.ndarray, initial: float) -> np.ndarray:
    """Per-session simple returns (S, L); the first is against the initial cash."""
    eq = equity if ends.size == equity.shape[0] else equity[ends]
    out = np.empty(eq.shape)
    if eq.shape[0]:
        np.divide(eq[0], initial, out=out[0])
        np.divide(eq[1:], eq[:-1], out=out[1:])
        out -= 1
    return out


def orders_frame(out: KernelOut, m: Market, lane: int | None = None) -> pl.DataFrame:
    """Every order (filled, partial or rejected) with its reason and fee breakdown."""
    o = out.orders
    sel = np.ones(o["t"].size, bool) if lane is None else o["lane"] == lane
    order = np.lexsort((o["side"][sel], o["sym"][sel], o["t"][sel]))
    take = {k: v[sel][order] for k, v in o.items()}
    filled, req = take["filled"], take["requested"]
    status = np.where(filled <= 1e-9, "rejected", np.where(filled < req - 1e-6, "partial", "filled"))
    fees = take["comm"] + take["stamp"] + take["transfer"]
    value = np.where(filled > 0, filled * take["price"], 0.0)
    return pl.DataFrame(
        {
            "ts": m.ts[take["t"]],
            "date": m.dates[take["t"]],
            "symbol": _gather(m.symbols, take["sym"]),
            "side": _gather(["buy", "sell"], take["side"]),
            "target_qty": take["target"],
            "requested_qty": req,
            "filled_qty": filled,
            "price": np.where(filled > 0, take["price"], np.nan),
            "value": value,
            "commission": take["comm"],
            "stamp_duty": take["stamp"],
            "transfer_fee": take["transfer"],
            "fees": fees,
            "status": status,
            "reason": _gather([r or None for r in REASONS], take["reason"]),
        }
    ).with_columns(pl.col("price").fill_nan(None))


def _gather(values: list, idx: np.ndarray) -> pl.Series:
    """Strings by index without building Python objects per row."""
    return pl.Series(values, dtype=pl.Utf8).gather(np.asarray(idx, dtype=np.int64))


def fills_frame(orders: pl.DataFrame) -> pl.DataFrame:
    """Executed quantities with fees and the signed cash flow."""
    fills = orders.filter(pl.col("filled_qty") > 0)
    flow = pl.when(pl.col("side") == "sell").then(pl.col("value")).otherwise(-pl.col("value")) - pl.col("fees")
    return fills.select(
        "ts", "date", "symbol", "side", pl.col("filled_qty").alias("qty"), "price", "value",
        "commission", "stamp_duty", "transfer_fee", "fees", flow.alias("cash_flow"),
    )  # fmt: skip


def round_trips(fills: pl.DataFrame, sessions: dict) -> pl.DataFrame:
    """Closed round trips per symbol (flat → flat): net P&L after fees and holding sessions."""
    schema = {
        "symbol": pl.Utf8,
        "entry_date": pl.Date,
        "exit_date": pl.Date,
        "pnl": pl.Float64,
        "holding_sessions": pl.Int64,
    }
    if fills.is_empty():
        return pl.DataFrame(schema=schema)
    signed = pl.when(pl.col("side") == "buy").then(pl.col("qty")).otherwise(-pl.col("qty"))
    index = pl.DataFrame(
        {"date": list(sessions), "session": list(sessions.values())}, schema={"date": pl.Date, "session": pl.Int64}
    )
    legs = (
        fills.sort("symbol", "ts", "side", maintain_order=True)
        .with_columns(signed.cum_sum().over("symbol").alias("after"), signed.alias("signed"))
        .with_columns(((pl.col("after") - pl.col("signed")) <= 1e-9).cum_sum().over("symbol").alias("trip"))
        .join(index, on="date", how="left")
    )
    trips = legs.group_by("symbol", "trip", maintain_order=True).agg(
        pl.col("date").first().alias("entry_date"),
        pl.col("date").last().alias("exit_date"),
        pl.col("cash_flow").sum().alias("pnl"),
        (pl.col("session").last() - pl.col("session").first()).alias("holding_sessions"),
        (pl.col("after").last() <= 1e-9).alias("closed"),
    )
    return trips.filter("closed").select(pl.col(c).cast(t) for c, t in schema.items())


def positions_frame(m: Market, pos_panel: np.ndarray, ends: np.ndarray, sym_idx: np.ndarray) -> pl.DataFrame:
    """End-of-day holdings: one row per session and held symbol."""
    held = pos_panel[ends]
    r, c = np.nonzero(held > 1e-9)
    close = m.mark[ends[r], sym_idx[c]]
    return pl.DataFrame(
        {
            "date": m.dates[ends[r]],
            "symbol": _gather(m.symbols, sym_idx[c]),
            "shares": held[r, c],
            "close": close,
            "market_value": held[r, c] * close,
        }
    )


def write_artifacts(result: BacktestResult, out_dir: str | Path) -> list[Path]:
    """Write every frame as Parquet and CSV, and metrics + manifest as JSON; returns the paths."""
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    paths: list[Path] = []
    for name in ("equity", "orders", "fills", "trades", "positions"):
        frame: pl.DataFrame = getattr(result, name)
        frame.write_parquet(out / f"{name}.parquet")
        frame.write_csv(out / f"{name}.csv")
        paths += [out / f"{name}.parquet", out / f"{name}.csv"]
    for name in ("metrics", "manifest"):
        path = out / f"{name}.json"
        path.write_text(json.dumps(getattr(result, name), indent=2, sort_keys=True, default=str) + "\n")
        paths.append(path)
    return paths


def json_metrics(values: dict) -> dict:
    """Clean a metrics dict (numpy → Python, NaN → None), dropping private keys."""
    return {k: mx.clean(v) for k, v in values.items() if not k.startswith("_")}
