"""Pure views over a run's stored frames: filtered, sorted pages and shape-preserving downsampling of curves.
No database, HTTP, CLI or queue; the service loads the frames and calls these."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date
from typing import Any

import numpy as np
import polars as pl

from backtest.domain import MONEY_COLUMNS, clean_json
from platform_core.errors import InvalidInput

PAGE_KINDS = ("trades", "orders", "fills", "positions")
ORDER_STATUSES = ("filled", "partial", "rejected")
SIDES = ("buy", "sell")
DATE_COLUMN = {"trades": "exit_date", "orders": "date", "fills": "date", "positions": "date"}


@dataclass(frozen=True)
class PageQuery:
    """What a page of trades, orders, fills or positions asks for. `sort`: comma-separated columns, `-` for
    descending (`-pnl,symbol`); the date range is inclusive (a trade is in it when it closed in it)."""

    sort: str | None = None
    symbol: str | None = None
    start: date | None = None
    end: date | None = None
    side: str | None = None
    status: str | None = None
    reason: str | None = None
    limit: int = 50
    offset: int = 0


def check_range(start: date | None, end: date | None, *, field: str = "from") -> None:
    if start is not None and end is not None and end < start:
        raise InvalidInput(
            f"the range ends ({end}) before it starts ({start})",
            field=field,
            details={"from": start.isoformat(), "to": end.isoformat()},
        )


def sort_keys(sort: str | None, columns: list[str]) -> list[tuple[str, bool]]:
    """(column, descending) pairs of a `sort` expression; INVALID_INPUT listing the valid columns."""
    if not sort:
        return []
    keys = []
    for part in (p.strip() for p in sort.split(",")):
        name, descending = (part[1:], True) if part.startswith("-") else (part.lstrip("+"), False)
        if name not in columns:
            raise InvalidInput(f"unknown sort column {name!r}", field="sort", details={"allowed": columns, "got": name})
        keys.append((name, descending))
    return keys


def _one_of(value: str | None, allowed: tuple[str, ...] | list[str], field: str) -> None:
    if value is not None and value not in allowed:
        raise InvalidInput(f"unknown {field} {value!r}", field=field, details={"allowed": list(allowed)})


def filter_frame(kind: str, frame: pl.DataFrame, q: PageQuery, reasons: list[str]) -> pl.DataFrame:
    """The rows of `frame` (an artifact of `kind`) matching the query's filters."""
    check_range(q.start, q.end)
    if kind not in ("orders", "fills") and q.side is not None:
        raise InvalidInput(f"{kind} have no side filter", field="side")
    if kind != "orders" and (q.status is not None or q.reason is not None):
        raise InvalidInput(f"{kind} have no status or reason filter", field="status" if q.status else "reason")
    _one_of(q.side, SIDES, "side")
    _one_of(q.status, ORDER_STATUSES, "status")
    _one_of(q.reason, reasons, "reason")
    where = []
    if q.symbol:
        symbols = [s.strip() for s in q.symbol.split(",") if s.strip()]
        where.append(pl.col("symbol").is_in(symbols))
    day = DATE_COLUMN[kind]
    if q.start is not None:
        where.append(pl.col(day) >= q.start)
    if q.end is not None:
        where.append(pl.col(day) <= q.end)
    for column in ("side", "status", "reason"):
        if getattr(q, column) is not None:
            where.append(pl.col(column) == getattr(q, column))
    return frame.filter(*where) if where else frame


def page_rows(frame: pl.DataFrame, q: PageQuery) -> tuple[list[dict[str, Any]], int]:
    """One sorted page of `frame` (nulls last, ties in stored order) and the number of matching rows.
    CNY amounts are rounded to the fen, like the JSON download."""
    keys = sort_keys(q.sort, frame.columns)
    total = frame.height
    page = _sorted_slice(frame, keys, q.offset, q.limit) if keys else frame.slice(q.offset, q.limit)
    money = [c for c in page.columns if c in MONEY_COLUMNS and page.schema[c].is_float()]
    if money:
        page = page.with_columns(pl.col(money).round(2))
    return clean_json(page.to_dicts()), total


def _sorted_slice(frame: pl.DataFrame, keys: list[tuple[str, bool]], offset: int, limit: int) -> pl.DataFrame:
    """Rows [offset, offset + limit) of `frame` sorted by `keys` (nulls last, ties in stored order). A page
    near the top is a top-k (a partial selection, ~10× cheaper than sorting 100k rows), the rest a sort of
    the key columns only and a gather of the page's rows."""
    with_row = frame.with_row_index("_row")
    by: list[pl.Expr] = []
    descending: list[bool] = []
    for name, desc in keys:
        by += [pl.col(name).is_null(), pl.col(name)]
        descending += [False, desc]
    by.append(pl.col("_row"))
    descending.append(False)
    top = offset + limit
    if top * 4 <= frame.height:
        best = with_row.top_k(top, by=by, reverse=[not d for d in descending])
        return best.sort(by, descending=descending).slice(offset, limit).drop("_row")
    order = with_row.select(pl.arg_sort_by(by, descending=descending))
    return frame[order.to_series().slice(offset, limit)]


def downsample(values: np.ndarray, points: int, keep: list[int]) -> np.ndarray:
    """Indices of about `points` points of a curve chosen by MinMaxLTTB (tsdownsample: LTTB over min/max
    preselected points, which keeps the shape and the local extremes), plus the curve's highest and lowest
    points (LTTB may trade one for a neighbour) and the indices in `keep` (e.g. the deepest drawdown)."""
    from tsdownsample import MinMaxLTTBDownsampler

    n = values.size
    if n <= points:
        return np.arange(n)
    chosen = MinMaxLTTBDownsampler().downsample(np.ascontiguousarray(values, dtype=np.float64), n_out=points)
    extremes = [int(np.argmax(values)), int(np.argmin(values)), *keep]
    return np.unique(np.concatenate([chosen.astype(np.int64), np.asarray(extremes, dtype=np.int64)]))
