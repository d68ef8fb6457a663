"""Frame builders shared by the engine tests (imported by conftest and step modules)."""

from __future__ import annotations

import datetime as dt

import polars as pl


def parse_ts(text: str) -> dt.datetime:
    """'2024-03-01' → 15:00 that day (a daily bar); '2024-03-01 09:45' → that minute."""
    text = text.strip()
    if len(text) == 10:
        return dt.datetime.fromisoformat(text).replace(hour=15)
    return dt.datetime.fromisoformat(text)


def table_rows(datatable: list[list[str]]) -> list[dict[str, str]]:
    """A Gherkin data table as dicts keyed by its header."""
    header = [h.strip() for h in datatable[0]]
    return [dict(zip(header, (c.strip() for c in row), strict=True)) for row in datatable[1:]]


def bars_from_table(symbol: str, datatable: list[list[str]], is_st: bool = False) -> pl.DataFrame:
    """A minimal bar frame from a table with ts, open, high, low, close[, suspended, volume, adj_factor]."""
    rows = table_rows(datatable)

    def num(value: str) -> float | None:
        return float(value) if value else None

    stamps = [parse_ts(r["ts"]) for r in rows]
    return pl.DataFrame(
        {
            "symbol": [symbol] * len(rows),
            "ts": stamps,
            "date": [s.date() for s in stamps],
            **{c: [num(r[c]) for r in rows] for c in ("open", "high", "low", "close")},
            "volume": [float(r.get("volume") or 1e6) for r in rows],
            "adj_factor": [float(r.get("adj_factor") or 1.0) for r in rows],
            "suspended": [r.get("suspended", "false") == "true" for r in rows],
            "is_st": [is_st] * len(rows),
        },
        schema_overrides={
            "ts": pl.Datetime("us"),
            "open": pl.Float64,
            "high": pl.Float64,
            "low": pl.Float64,
            "close": pl.Float64,
        },
    )
