"""Fundamentals as columns next to the bars, point in time.

A vectorised strategy declares the `daily_basic` fields it reads with a module-level literal
`FIELDS = ["pb", "pe", ...]` (names from `FUNDAMENTAL_FIELDS`); its bars frame then carries one column per
field. Every vectorised strategy's frame, with or without `FIELDS`, carries `in_universe` (whether the stock
belongs to the backtest's universe on that session: always true for an explicit list, the point-in-time
membership of an index / all selection), which the SDK's `cross_rank` / `top_n` rank within.

Convention (the decision time is a bar's close, fills at the next open): `daily_basic` of session t is
published after t's close, so a daily bar of t carries t's values — the newest row on or before t (a
suspended day without a row carries the last published one); an intraday bar of t carries the newest row
strictly before t (t's values are not known during t). Never a later row.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable

import polars as pl

FUNDAMENTAL_FIELDS = ("pe", "pb", "ps", "dv_ratio", "total_mv", "circ_mv", "turnover_rate")
FIELD_UNITS = {
    "pe": "price / earnings (TTM-less, as Tushare's pe)",
    "pb": "price / book",
    "ps": "price / sales",
    "dv_ratio": "dividend yield, %",
    "total_mv": "total market value, 10,000 CNY (万元)",
    "circ_mv": "float market value, 10,000 CNY (万元)",
    "turnover_rate": "turnover, % of the float",
}
UNIVERSE_COLUMN = "in_universe"


class FieldError(ValueError):
    """A strategy's `FIELDS` declaration is invalid; `name` is the offending entry (None: the shape)."""

    def __init__(self, message: str, name: str | None = None):
        super().__init__(message)
        self.name = name


def check_fields(fields: Iterable[object]) -> tuple[str, ...]:
    """`fields` as a tuple of known field names (duplicates dropped, order kept); `FieldError` naming the
    first unknown one."""
    if isinstance(fields, str) or not isinstance(fields, list | tuple):
        raise FieldError('FIELDS must be a list of field names, e.g. FIELDS = ["pb"]')
    known: list[str] = []
    for name in fields:
        if not isinstance(name, str) or name not in FUNDAMENTAL_FIELDS:
            raise FieldError(
                f"unknown field {name!r} in FIELDS; known fields: {', '.join(FUNDAMENTAL_FIELDS)}", name=str(name)
            )
        if name not in known:
            known.append(name)
    return tuple(known)


def declared_fields(source: str) -> tuple[str, ...]:
    """The fields a strategy source declares (`FIELDS = [...]` at module level, a literal), read without
    running it; () when it declares none. `FieldError` for an unknown name or a non-literal declaration."""
    try:
        tree = ast.parse(source)
    except SyntaxError:
        return ()  # the static check reports it
    for node in tree.body:
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        else:
            continue
        if any(isinstance(t, ast.Name) and t.id == "FIELDS" for t in targets) and node.value is not None:
            try:
                value = ast.literal_eval(node.value)
            except ValueError:
                raise FieldError('FIELDS must be a literal list of field names, e.g. FIELDS = ["pb"]') from None
            return check_fields(value)
    return ()


def join_fundamentals(
    bars: pl.DataFrame, fundamentals: pl.DataFrame, fields: tuple[str, ...], *, intraday: bool = False
) -> pl.DataFrame:
    """`bars` (symbol, date, ts, ...) with one Float64 column per field from `fundamentals` (symbol, date,
    fields...): for each bar the newest row of its symbol on or before its date (strictly before for
    intraday bars); null where none is known yet. Row order and the other columns are unchanged."""
    if not fields:
        return bars
    known = (
        fundamentals.select("symbol", "date", *fields)
        .with_columns(pl.col(f).cast(pl.Float64) for f in fields)
        .sort("symbol", "date")
    )
    keyed = bars.select("symbol", "date").with_row_index("_row").sort("symbol", "date")
    joined = keyed.join_asof(
        known, on="date", by="symbol", strategy="backward", allow_exact_matches=not intraday, check_sortedness=False
    ).sort("_row")
    return bars.with_columns(joined.select(*fields).get_columns())


def with_membership(bars: pl.DataFrame, members: pl.DataFrame | None) -> pl.DataFrame:
    """`bars` with `in_universe`: whether (date, symbol) is in `members` (date, symbol); all true when
    `members` is None (an explicit list)."""
    if members is None:
        return bars.with_columns(pl.lit(True).alias(UNIVERSE_COLUMN))
    return bars.with_columns(member_flags(bars, members).alias(UNIVERSE_COLUMN))


def member_flags(frame: pl.DataFrame, members: pl.DataFrame, date: pl.Expr | None = None) -> pl.Series:
    """Per row of `frame`: whether its (`date`, symbol) is in `members` (date, symbol), never null; `date` is
    `frame`'s `date` column unless given (e.g. `pl.col("ts").dt.date()`). One Int64 key per row (the
    symbol's code in an Enum of the members' symbols, and the day) tested with `is_in`: at market scale (12 M
    rows each side) well under half of a left join on (date, symbol), which hashes both strings."""
    codes = pl.Enum(members.get_column("symbol").drop_nulls().unique().sort())

    def key(part: pl.DataFrame, on: pl.Expr) -> pl.Series:
        code = pl.col("symbol").cast(codes, strict=False).to_physical().cast(pl.Int64)  # null: not a member
        day = on.cast(pl.Date).cast(pl.Int32).cast(pl.Int64) + (1 << 31)  # every Int32 day, non-negative
        return part.select(code * (1 << 32) + day).to_series()

    inside = key(members, pl.col("date")).drop_nulls()
    return key(frame, pl.col("date") if date is None else date).is_in(inside.implode()).fill_null(False)


def strategy_frame(bars: pl.DataFrame, fields: tuple[str, ...], given: pl.DataFrame | None = None) -> pl.DataFrame:
    """The frame a vectorised strategy is given: `bars` with the columns it declares in `fields` and
    `in_universe`, both taken from `given` (the caller's frame before `normalize_bars` dropped them, matched
    on symbol and ts) or from `bars`; `in_universe` is true where neither carries it (an explicit list).
    `FieldError` naming the declared fields neither frame carries."""
    source = given if given is not None else bars
    missing = [f for f in fields if f not in source.columns]
    if missing:
        raise FieldError(
            f"the bars lack the fields the strategy declares (FIELDS): {', '.join(missing)} — a backtest adds "
            "them from daily_basic; a frame given to the engine must carry them",
            name=missing[0],
        )
    flags = source.get_column(UNIVERSE_COLUMN) if UNIVERSE_COLUMN in source.columns else None
    if flags is not None and source is not bars and flags.null_count() == 0 and flags.all():
        flags = None  # every row a member: no join needed
    extra = [c for c in fields if c not in bars.columns]
    if flags is not None and UNIVERSE_COLUMN not in bars.columns:
        extra.append(UNIVERSE_COLUMN)
    if extra and source is not bars:
        keyed = source.select("symbol", "ts", *extra)
        if not _same_rows(bars, keyed):
            keyed = keyed.sort("symbol", "ts")  # the contract's order: a sort is cheaper than the join
        if _same_rows(bars, keyed):
            bars = bars.with_columns(keyed.select(extra).get_columns())
        else:
            bars = bars.join(keyed, on=["symbol", "ts"], how="left", maintain_order="left")
    if UNIVERSE_COLUMN not in bars.columns:
        return bars.with_columns(pl.lit(True).alias(UNIVERSE_COLUMN))
    if bars.schema[UNIVERSE_COLUMN] == pl.Boolean and not bars[UNIVERSE_COLUMN].null_count():
        return bars
    return bars.with_columns(pl.col(UNIVERSE_COLUMN).cast(pl.Boolean).fill_null(False))


def _same_rows(bars: pl.DataFrame, source: pl.DataFrame) -> bool:
    """Whether `source` has the rows of `bars` in the same order (equal symbol and ts columns)."""
    if source.height != bars.height or source.schema["ts"] != bars.schema["ts"]:
        return False
    return source["symbol"].equals(bars["symbol"]) and source["ts"].equals(bars["ts"])
