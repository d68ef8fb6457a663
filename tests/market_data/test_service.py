"""The published service: the bar contract, adjustment, snapshots, calendar, instruments and bad input."""

from __future__ import annotations

from datetime import date

import polars as pl
import pytest
from sqlalchemy.orm import Session

from market_data import service
from market_data.calendars import xshg_sessions
from market_data.config import MarketDataEnv
from platform_core.errors import InvalidInput, NotFound
from quant.contract import INSTRUMENT_SCHEMA, validate_bars

START, END = date(2015, 1, 1), date(2025, 12, 31)


def test_get_bars_follows_the_contract_for_every_board(session: Session, market: MarketDataEnv, loaded) -> None:
    symbols = ["830010.BJ", "688010.SH", "600010.SH", "300010.SZ", "000010.SZ"]
    frame = service.get_bars(session, market, symbols=symbols, freq="1d", start=START, end=END)
    validate_bars(frame)
    assert frame["symbol"].unique(maintain_order=True).to_list() == sorted(symbols)
    assert frame.filter(pl.col("symbol") == "830010.BJ")["date"].min() == date(2021, 11, 15)
    assert (frame["ts"].dt.hour() == 15).all()
    suspended = frame.filter(pl.col("suspended"))
    assert suspended.height > 0 and suspended["close"].null_count() == suspended.height


def test_adjustments_are_computed_on_read(session: Session, market: MarketDataEnv, loaded) -> None:
    kwargs = {"symbols": ["600010.SH"], "freq": "1d", "start": date(2020, 1, 1), "end": date(2023, 12, 29)}
    raw = service.get_bars(session, market, adjust="none", **kwargs)
    hfq = service.get_bars(session, market, adjust="hfq", **kwargs)
    qfq = service.get_bars(session, market, adjust="qfq", **kwargs)
    assert raw["close"].equals(raw["raw_close"])
    assert raw["adj_factor"].n_unique() > 1, "the window must hold an ex-rights step"
    live = ~raw["suspended"]
    assert (hfq["close"] - raw["close"] * raw["adj_factor"]).filter(live).abs().max() < 1e-9
    anchor = raw.filter(pl.col("date") <= date(2023, 12, 29))["adj_factor"][-1]
    assert (qfq["close"] - raw["close"] * raw["adj_factor"] / anchor).filter(live).abs().max() < 1e-9
    last_live = qfq.filter(~pl.col("suspended")).tail(1)
    assert last_live["close"][0] == pytest.approx(last_live["raw_close"][0])
    assert qfq["up_limit"].equals(raw["up_limit"]), "limits stay raw"


def test_a_pinned_snapshot_reads_the_same_after_later_loads(session: Session, market: MarketDataEnv, loaded) -> None:
    kwargs = {"symbols": ["600010.SH"], "freq": "1d", "start": date(2024, 1, 1), "end": date(2024, 12, 31)}
    before = service.get_bars(session, market, snapshot_id=loaded.snapshot.id, **kwargs)
    later = service.load_sample(session, market, symbols=["600010.SH"], start=date(2024, 1, 1), end=date(2024, 6, 30))
    assert later.snapshot.id != loaded.snapshot.id
    assert service.latest_snapshot(session).id == later.snapshot.id
    assert service.get_bars(session, market, snapshot_id=loaded.snapshot.id, **kwargs).equals(before)
    narrowed = service.get_bars(session, market, snapshot_id=later.snapshot.id, **kwargs)
    assert narrowed["date"].max() == date(2024, 6, 28)
    # the later load covers less than the default (600010.SH to June only): the default stays, and so do reads
    assert later.snapshot.is_default is False and service.default_snapshot(session).id == loaded.snapshot.id
    assert service.get_bars(session, market, **kwargs).equals(before)


def test_minute_bars_are_right_labelled(session: Session, market: MarketDataEnv, loaded) -> None:
    five = service.get_bars(
        session,
        market,
        symbols=["688010.SH"],
        freq="5min",
        start=date(2025, 11, 3),
        end=date(2025, 11, 3),
        adjust="none",
    )
    fifteen = service.get_bars(
        session,
        market,
        symbols=["688010.SH"],
        freq="15min",
        start=date(2025, 11, 3),
        end=date(2025, 11, 3),
        adjust="none",
    )
    validate_bars(five)
    validate_bars(fifteen)
    assert five.height == 48 and fifteen.height == 16
    assert [t.strftime("%H:%M") for t in five["ts"].gather([0, 23, 24, 47])] == ["09:35", "11:30", "13:05", "15:00"]
    assert [t.strftime("%H:%M") for t in fifteen["ts"].gather([0, 7, 8, 15])] == ["09:45", "11:30", "13:15", "15:00"]
    assert fifteen["volume"].sum() == five["volume"].sum()
    daily = service.get_bars(
        session, market, symbols=["688010.SH"], freq="1d", start=date(2025, 11, 3), end=date(2025, 11, 3), adjust="none"
    )
    assert (five["open"][0], five["high"].max(), five["low"].min(), five["close"][-1]) == (
        daily["open"][0],
        daily["high"][0],
        daily["low"][0],
        daily["close"][0],
    )
    assert five["volume"].sum() == daily["volume"][0]


def test_bad_symbols_are_each_named(session: Session, market: MarketDataEnv, loaded) -> None:
    with pytest.raises(InvalidInput) as caught:
        service.get_bars(
            session, market, symbols=["600010.SH", "999999.SH", "600000.XX"], freq="1d", start=START, end=END
        )
    assert caught.value.envelope() == {
        "error": {
            "code": "INVALID_INPUT",
            "message": "unknown or malformed symbols: 600000.XX, 999999.SH",
            "details": {"field": "symbols", "malformed": ["600000.XX"], "unknown": ["999999.SH"]},
        }
    }


def test_a_bare_or_one_digit_off_code_gets_a_suggestion(session: Session, market: MarketDataEnv, loaded) -> None:
    with pytest.raises(InvalidInput) as caught:
        service.get_bars(session, market, symbols=["600010", "600011.SH"], freq="1d", start=START, end=END)
    assert caught.value.message == (
        "unknown or malformed symbols: 600010, 600011.SH; "
        "did you mean 600010 → 600010.SH, 600011.SH → 600010.SH or 600110.SH?"
    )
    assert caught.value.details["did_you_mean"] == {"600010": ["600010.SH"], "600011.SH": ["600010.SH", "600110.SH"]}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"freq": "1h"}, "unsupported frequency '1h'; use one of ['1d', '5min', '15min']"),
        ({"adjust": "pre"}, "unsupported adjustment 'pre'; use one of ['none', 'qfq', 'hfq', 'qfq_pit']"),
        ({"start": date(2024, 2, 1), "end": date(2024, 1, 1)}, "start 2024-02-01 is after end 2024-01-01"),
        (
            {"start": date(2026, 6, 1), "end": date(2027, 1, 4)},
            "dates outside the trading calendar's range 2015-01-01..2026-12-31 (xshg); no calendar is known beyond it",
        ),
    ],
)
def test_bad_ranges_frequencies_and_adjustments(
    session: Session, market: MarketDataEnv, loaded, kwargs: dict, message: str
) -> None:
    args = {"symbols": ["600010.SH"], "freq": "1d", "start": START, "end": END, **kwargs}
    with pytest.raises(InvalidInput) as caught:
        service.get_bars(session, market, **args)
    assert caught.value.message == message


def test_nothing_loaded_and_unknown_snapshot_are_not_found(session: Session, market: MarketDataEnv) -> None:
    with pytest.raises(NotFound) as caught:
        service.latest_snapshot(session)
    assert caught.value.message == "no market data loaded: run `huice data load-sample` or `huice data sync`"
    service.load_sample(session, market, symbols=["600010.SH"], start=date(2025, 1, 1), end=date(2025, 1, 31))
    with pytest.raises(NotFound) as caught:
        service.get_bars(
            session, market, symbols=["600010.SH"], freq="1d", start=START, end=END, snapshot_id="snap_nope"
        )
    assert caught.value.envelope()["error"] == {
        "code": "NOT_FOUND",
        "message": "snapshot snap_nope not found",
        "details": {"snapshot_id": "snap_nope"},
    }


def test_trading_sessions_follow_xshg(session: Session, market: MarketDataEnv) -> None:
    offline = service.trading_sessions(session, date(2024, 1, 1), date(2024, 12, 31))
    assert len(offline) == 242 and offline[0] == date(2024, 1, 2) and date(2024, 2, 9) not in offline
    service.load_sample(session, market, symbols=["600010.SH"], start=date(2025, 1, 1), end=date(2025, 1, 31))
    assert service.trading_sessions(session, date(2024, 1, 1), date(2024, 12, 31)) == offline
    assert len(service.trading_sessions(session, date(2025, 1, 1), date(2025, 12, 31))) == 243
    with pytest.raises(InvalidInput) as caught:
        service.trading_sessions(session, date(2026, 12, 1), date(2027, 1, 31))
    assert caught.value.details["calendar_last"] == "2026-12-31"
    assert service.trading_sessions(session, date(2026, 12, 28), date(2026, 12, 31)) == [
        d for d in xshg_sessions() if d >= date(2026, 12, 28)
    ]


def test_instruments_frame_and_benchmark(session: Session, market: MarketDataEnv, loaded) -> None:
    frame = service.get_instruments(session, ["688010.SH", "600110.SH", "830010.BJ", "300010.SZ"])
    assert frame.schema == pl.Schema(INSTRUMENT_SCHEMA)
    assert frame.select("symbol", "exchange", "board").rows() == [
        ("300010.SZ", "SZSE", "chinext"),
        ("600110.SH", "SSE", "main"),
        ("688010.SH", "SSE", "star"),
        ("830010.BJ", "BSE", "bse"),
    ]
    assert frame.filter(pl.col("symbol") == "600110.SH")["delist_date"][0] == date(2021, 7, 1)
    assert frame.filter(pl.col("symbol") == "600110.SH")["name"][0] == "*ST样本主板11"
    bench = service.get_benchmark(session, market, "000300.SH", date(2025, 1, 1), date(2025, 12, 31))
    validate_bars(bench)
    assert bench.height == 243 and bench["up_limit"].null_count() == 243
    assert service.validate_symbols(session, [" 600010.sh", "000300.SH"]) == ["600010.SH", "000300.SH"]
    with pytest.raises(InvalidInput) as duplicated:  # a code given twice is named, not silently dropped
        service.validate_symbols(session, [" 600010.sh", "600010.SH", "000300.SH"])
    assert duplicated.value.details == {"field": "symbols", "duplicates": ["600010.SH"]}


@pytest.mark.parametrize("freq", ["1d", "5min"])
def test_get_inputs_reads_what_bars_instruments_and_benchmark_read_in_fewer_statements(
    session: Session, market: MarketDataEnv, loaded, freq: str
) -> None:
    """A backtest's inputs in one pass (`get_inputs`): the frames `get_bars`, `get_instruments` and
    `get_benchmark` give, the same errors first, and each shared row (calendar, instruments, snapshot,
    daily files and packs) read once."""
    from sqlalchemy import event

    held = service.coverage(session, snapshot_id=loaded.snapshot.id, freq=freq)
    symbols = [" 600010.sh", *sorted({p.symbol for p in held} - {"600010.SH", "000300.SH"})[:2]]
    end = max(p.last_date for p in held)
    kwargs = {"start": date(end.year - 1, 1, 2) if freq == "1d" else end, "end": end}
    statements: list[str] = []

    def seen(conn, cursor, statement, parameters, context, executemany) -> None:
        statements.append(statement)

    bind = session.connection()
    event.listen(bind, "before_cursor_execute", seen)
    try:
        bars, instruments, bench = service.get_inputs(
            session, market, symbols=symbols, freq=freq, adjust="qfq", snapshot_id=loaded.snapshot.id,
            benchmark="000300.SH", **kwargs,
        )  # fmt: skip
        together = len(statements)
        statements.clear()
        apart = (
            service.get_bars(session, market, symbols=symbols, freq=freq, snapshot_id=loaded.snapshot.id, **kwargs),
            service.get_instruments(session, symbols),
            service.get_benchmark(session, market, "000300.SH", snapshot_id=loaded.snapshot.id, **kwargs),
        )
        separately = len(statements)
    finally:
        event.remove(bind, "before_cursor_execute", seen)
    assert bars.height and bench is not None and bench.height
    assert bars.equals(apart[0]) and instruments.equals(apart[1]) and bench.equals(apart[2])
    assert together == (5 if freq == "1d" else 6) < separately
    with pytest.raises(InvalidInput) as caught:  # the benchmark is checked once the bars are read, as before
        service.get_inputs(
            session, market, symbols=symbols, freq=freq, adjust="qfq", snapshot_id=None, benchmark="999999.SH",
            **kwargs,
        )  # fmt: skip
    assert caught.value.details["unknown"] == ["999999.SH"]
    no_bench = service.get_inputs(
        session, market, symbols=symbols, freq=freq, adjust="qfq", snapshot_id=None, benchmark=None, **kwargs
    )
    assert no_bench[0].equals(bars) and no_bench[2] is None


def test_load_sample_if_empty_is_a_no_op_once_loaded(session: Session, market: MarketDataEnv, loaded) -> None:
    again = service.load_sample(session, market, if_empty=True)
    assert again.skipped is True and again.snapshot.id == loaded.snapshot.id
    same = service.load_sample(session, market, symbols=loaded_symbols())
    assert same.skipped is False and same.snapshot.id == loaded.snapshot.id, "identical content, no new snapshot"
    with pytest.raises(InvalidInput) as caught:
        service.load_sample(session, market, symbols=["600000.SH", "12345"])
    assert caught.value.details == {"field": "symbols", "malformed": ["12345"], "unknown": ["600000.SH"]}


def loaded_symbols() -> list[str]:
    from tests.market_data.conftest import SLICE

    return SLICE
