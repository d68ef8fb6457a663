"""backtest.views: pages of stored frames (filters, sort on any column, nulls last, stable ties) and the
shape-preserving downsampling of curves."""

from __future__ import annotations

from datetime import date

import numpy as np
import polars as pl
import pytest

from backtest.views import PageQuery, downsample, filter_frame, page_rows, sort_keys
from platform_core.errors import InvalidInput

ORDERS = pl.DataFrame(
    {
        "date": [date(2024, 1, d) for d in (2, 2, 3, 4, 5)],
        "symbol": ["A", "B", "A", "B", "A"],
        "side": ["buy", "buy", "sell", "sell", "buy"],
        "price": [10.0, None, 11.0, 9.0, 10.5],
        "fees": [5.123, 0.0, 5.5, 4.0, 5.0],
        "status": ["filled", "rejected", "filled", "partial", "filled"],
        "reason": [None, "LIMIT_UP", None, "INSUFFICIENT_CASH", None],
    }
)


def _page(q: PageQuery, kind: str = "orders") -> tuple[list[dict], int]:
    return page_rows(filter_frame(kind, ORDERS, q, ["LIMIT_UP", "INSUFFICIENT_CASH"]), q)


def test_sort_on_any_column_descending_nulls_last_and_ties_in_stored_order() -> None:
    items, total = _page(PageQuery(sort="-price"))
    assert total == 5 and [i["price"] for i in items] == [11.0, 10.5, 10.0, 9.0, None]
    items, _ = _page(PageQuery(sort="symbol,-date"))
    assert [(i["symbol"], i["date"]) for i in items][:3] == [("A", date(2024, 1, 5)), ("A", date(2024, 1, 3)),
                                                             ("A", date(2024, 1, 2))]  # fmt: skip
    items, _ = _page(PageQuery(sort="side", limit=2, offset=1))
    assert [(i["side"], i["date"]) for i in items] == [("buy", date(2024, 1, 2)), ("buy", date(2024, 1, 5))]


def test_filters_by_symbol_dates_side_status_and_reason() -> None:
    assert _page(PageQuery(symbol="A"))[1] == 3
    assert _page(PageQuery(symbol="A,B", start=date(2024, 1, 3), end=date(2024, 1, 4)))[1] == 2
    assert _page(PageQuery(side="sell"))[1] == 2
    items, total = _page(PageQuery(status="partial", reason="INSUFFICIENT_CASH"))
    assert total == 1 and items[0]["symbol"] == "B"


def test_money_is_rounded_to_the_fen() -> None:
    items, _ = _page(PageQuery(limit=1))
    assert items[0]["fees"] == 5.12


@pytest.mark.parametrize(
    ("query", "kind", "field"),
    [
        (PageQuery(sort="-nope"), "orders", "sort"),
        (PageQuery(status="done"), "orders", "status"),
        (PageQuery(reason="NOPE"), "orders", "reason"),
        (PageQuery(side="hold"), "orders", "side"),
        (PageQuery(status="filled"), "fills", "status"),
        (PageQuery(start=date(2024, 2, 1), end=date(2024, 1, 1)), "orders", "from"),
    ],
)
def test_bad_queries_are_invalid_input_naming_the_field(query: PageQuery, kind: str, field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        _page(query, kind if kind != "fills" else "fills")
    assert caught.value.details["field"] == field


def test_an_unknown_sort_column_lists_the_valid_ones() -> None:
    with pytest.raises(InvalidInput) as caught:
        sort_keys("pnl,-nope", ["pnl", "symbol"])
    assert caught.value.details == {"field": "sort", "allowed": ["pnl", "symbol"], "got": "nope"}


def test_downsampling_keeps_the_extremes_and_the_points_asked_for() -> None:
    rng = np.random.default_rng(3)
    values = 1e6 * np.exp(np.cumsum(rng.normal(0, 0.01, 117_000)))
    idx = downsample(values, 1000, [0, values.size - 1])
    assert 1000 <= idx.size <= 1004 and (np.diff(idx) > 0).all()
    assert {0, values.size - 1, int(values.argmax()), int(values.argmin())} <= set(idx.tolist())
    assert downsample(values[:500], 1000, [0]).tolist() == list(range(500))


@pytest.mark.parametrize(("sort", "offset"), [("-pnl", 0), ("pnl", 30), ("symbol,-pnl", 5), ("-symbol,pnl", 900)])
def test_a_top_k_page_equals_the_same_slice_of_a_full_stable_sort(sort: str, offset: int) -> None:
    rng = np.random.default_rng(5)
    n = 1000
    pnl = rng.integers(-5, 5, n).astype(float)  # many ties
    frame = pl.DataFrame({"symbol": rng.choice(["A", "B", "C"], n), "pnl": pnl}).with_columns(
        pl.when(pl.int_range(pl.len()) % 7 == 0).then(None).otherwise(pl.col("pnl")).alias("pnl")
    )
    keys = sort_keys(sort, frame.columns)
    want = frame.sort([k for k, _ in keys], descending=[d for _, d in keys], nulls_last=True, maintain_order=True)
    items, total = page_rows(frame, PageQuery(sort=sort, limit=20, offset=offset))
    assert total == n and items == want.slice(offset, 20).to_dicts()
