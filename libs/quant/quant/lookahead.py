"""The look-ahead audit of a vectorised strategy: `generate` receives the whole window, so `shift(-1)` or a
normalisation over the full window silently reads the future. Computed on a prefix of the window (the bars
up to some session), an honest strategy states exactly the targets it states for those sessions on the
whole window; one that reads later bars does not. `audit` recomputes the targets on a few prefixes and
reports the first (session, symbol) where they differ.

Pure: the caller supplies `compute(bars) -> targets` (in the platform, the confined runner)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import polars as pl

PREFIXES = (0.25, 0.5, 0.75)  # the prefix ends, as fractions of the window's sessions
TOLERANCE = 1e-9  # relative: the same computation on fewer rows may differ in the last bits only


@dataclass(frozen=True)
class Finding:
    """The first difference: the session and symbol, the values (None: no row) and the prefix's end."""

    session: str
    symbol: str
    full: float | None
    prefix: float | None
    prefix_end: str

    @property
    def message(self) -> str:
        def show(v: float | None) -> str:
            return "no target" if v is None else f"{v:g}"

        return (
            f"LOOKAHEAD: the targets change when later bars are added — on {self.session} for {self.symbol} "
            f"the strategy states {show(self.full)} on the whole window but {show(self.prefix)} on the bars up to "
            f"{self.prefix_end}"
        )

    def to_json(self) -> dict:
        return {
            "code": "LOOKAHEAD",
            "session": self.session,
            "symbol": self.symbol,
            "full": self.full,
            "prefix": self.prefix,
            "prefix_end": self.prefix_end,
        }


def prefix_ends(bars: pl.DataFrame, fractions=PREFIXES) -> list:
    """The last session of each prefix (distinct sessions, the window's last excluded)."""
    days = bars["date"].unique().sort().to_list()
    if len(days) < 2:
        return []
    ends = {days[min(max(int(len(days) * f) - 1, 0), len(days) - 2)] for f in fractions}
    return sorted(ends)


def audit(
    compute: Callable[[pl.DataFrame], pl.DataFrame],
    bars: pl.DataFrame,
    targets: pl.DataFrame,
    fractions=PREFIXES,
    *,
    adjust: str | None = None,
):
    """(finding or None, the prefix ends checked): `compute` on each prefix of `bars`, compared with
    `targets` (the whole window's) on the prefix's sessions; the earliest difference over all prefixes.
    With `adjust="qfq"` each prefix is re-anchored at its own end (what a window ending there would have
    shown), so a strategy reading price levels that carry later adjustment factors is caught too — a
    research check, not the run's: rescaled prices can also flip exact floating-point ties of an honest,
    scale-invariant strategy (runs avoid the leak with the `qfq_pit` adjustment instead)."""
    ends = prefix_ends(bars, fractions)
    found: list[Finding] = []
    for end in ends:
        part = bars.filter(pl.col("date") <= end)
        part = compute(reanchor(part, bars) if adjust == "qfq" else part)
        finding = first_difference(targets, part, bars, end)
        if finding is not None:
            found.append(finding)
    best = min(found, key=lambda f: (f.session, f.symbol)) if found else None
    return best, [str(e) for e in ends]


ADJUSTED = ("open", "high", "low", "close", "pre_close")


def reanchor(part: pl.DataFrame, bars: pl.DataFrame) -> pl.DataFrame:
    """Forward-adjusted (qfq) bars `part` (a prefix of `bars`, anchored at the last row of each symbol in
    `bars`) re-anchored at their own last row per symbol: the prices a window ending at `part`'s end would
    have shown (adjusted × F(bars' end) / F(part's end))."""
    if "adj_factor" not in bars.columns or part.is_empty():
        return part
    anchors = bars.group_by("symbol").agg(pl.col("adj_factor").last().alias("_anchor"))
    present = [c for c in ADJUSTED if c in part.columns]
    scale = pl.col("_anchor") / pl.col("adj_factor").last().over("symbol")
    return (
        part.join(anchors, on="symbol", how="left", maintain_order="left")
        .with_columns((pl.col(c) * scale).alias(c) for c in present)
        .drop("_anchor")
    )


def first_difference(full: pl.DataFrame, prefix: pl.DataFrame, bars: pl.DataFrame, end) -> Finding | None:
    """The earliest (session, symbol) up to `end` where the two target frames disagree, or None."""
    column = "weight" if "weight" in full.columns else "shares"
    sessions = bars.select("ts", "date").unique("ts")
    a = _targets_until(full, column, sessions, end).rename({column: "full"})
    b = _targets_until(prefix, column, sessions, end).rename({column: "prefix"})
    both = a.join(b, on=["ts", "symbol"], how="full", coalesce=True).join(sessions, on="ts", how="left")
    both = both.sort("ts", "symbol")
    x, y = both["full"].to_numpy().astype(float), both["prefix"].to_numpy().astype(float)
    x_null, y_null = both["full"].is_null().to_numpy(), both["prefix"].is_null().to_numpy()
    same = (x_null & y_null) | (
        ~x_null
        & ~y_null
        & ((x == y) | (np.abs(x - y) <= TOLERANCE * np.maximum(np.abs(x), np.abs(y))) | (np.isnan(x) & np.isnan(y)))
    )
    bad = np.flatnonzero(~same)
    if bad.size == 0:
        return None
    row = both.row(int(bad[0]), named=True)
    return Finding(
        session=str(row["date"] or row["ts"].date()),
        symbol=row["symbol"],
        full=None if x_null[bad[0]] else float(x[bad[0]]),
        prefix=None if y_null[bad[0]] else float(y[bad[0]]),
        prefix_end=str(end),
    )


def _targets_until(targets: pl.DataFrame, column: str, sessions: pl.DataFrame, end) -> pl.DataFrame:
    if column not in targets.columns:
        return pl.DataFrame(schema={"ts": pl.Datetime("us"), "symbol": pl.Utf8, column: pl.Float64})
    frame = targets.select(
        pl.col("ts").cast(pl.Datetime("us")), pl.col("symbol").cast(pl.Utf8), pl.col(column).cast(pl.Float64)
    )
    frame = frame.join(sessions, on="ts", how="left")
    return frame.filter(pl.col("date") <= end).drop("date")
