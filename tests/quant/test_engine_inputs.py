"""The input side's shortcuts are exact: `prepare_market` and the data hash without polars queries, and the
price limits' reference without a (T, N) panel, give the values of the general code they stand in for."""

from __future__ import annotations

import datetime as dt

import numpy as np
import polars as pl
import pytest

from quant import EngineConfig
from quant import market as mk
from quant.contract import normalize_bars
from quant.synthetic import gbm_bars

SYMBOLS = ["600000.SH", "300750.SZ", "688981.SH", "830799.BJ", "000001.SZ"]


def _minimal(sessions: int = 60) -> pl.DataFrame:
    bars = gbm_bars(SYMBOLS, sessions=sessions, seed=9)
    return normalize_bars(bars.select("symbol", "date", "ts", "open", "high", "low", "close", "volume"))


def _series() -> dict[str, pl.Series]:
    stamps = [dt.datetime(1950, 1, 1, 9, 30), dt.datetime(2024, 5, 6, 15), dt.datetime(2024, 5, 7, 15)]
    return {
        "symbols": pl.Series(["a", "a", "b", "b", "b", "a"]),
        "one_symbol": pl.Series(["000001.SZ"] * 4),
        "null_symbol": pl.Series(["a", None, None, "b"]),
        "empty": pl.Series([], dtype=pl.Utf8),
        "date": pl.Series([dt.date(1950, 1, 1), dt.date(2024, 5, 6)]),
        "null_date": pl.Series([dt.date(1950, 1, 1), None]),
        "datetime": pl.Series(stamps).cast(pl.Datetime("us")),
        "datetime_ms_null": pl.Series([*stamps, None]).cast(pl.Datetime("ms")),
        "float": pl.Series([1.5, None, np.nan]),
        "bool": pl.Series([True, False, True]),
    }


@pytest.mark.parametrize("name", list(_series()))
def test_query_free_column_reads_equal_polars(name: str) -> None:
    """The data hash's run ids and physical values and the layout's symbol runs are polars' own, to the byte."""
    series = _series()[name]
    if series.dtype == pl.Utf8:
        assert mk._run_ids(series).tobytes() == series.rle_id().to_numpy().tobytes()
        runs = series.rle()
        values, lengths = mk._symbol_runs(series)
        assert values == runs.struct.field("value").to_list()
        assert lengths.tolist() == runs.struct.field("len").to_list()
    else:
        got, want = mk._physical(series), series.to_physical().to_numpy()
        assert got.dtype == want.dtype and got.tobytes() == want.tobytes()


@pytest.mark.parametrize("case", ["daily", "intraday", "gaps", "one_bar", "empty"])
def test_session_numbers_and_dates_equal_numpy_unique(case: str) -> None:
    """The sessions of the layout's sorted timestamps, without numpy's sort or hash-based unique."""
    day, hour = 86_400_000_000, 3_600_000_000
    stamps = {
        "daily": np.arange(40) * day + 15 * hour,
        "intraday": np.repeat(np.arange(10) * day, 4) + np.tile(np.array([9, 10, 13, 15]) * hour, 10),
        "gaps": np.array([-3 * day, -2 * day + hour, 5 * day, 5 * day + hour, 9 * day]),
        "one_bar": np.array([15 * hour]),
        "empty": np.array([], np.int64),
    }[case]
    dates = np.asarray(stamps, np.int64).astype("datetime64[us]").astype("datetime64[D]")
    numbers, want = mk._session_numbers(dates), np.unique(dates, return_inverse=True)[1].ravel()
    assert numbers.dtype == want.dtype and numbers.tolist() == want.tolist()
    got, want = mk._session_dates(dates), np.unique(dates)
    assert got.dtype == want.dtype and got.tolist() == want.tolist()


@pytest.mark.parametrize("factor", [[1.0, 1.0], [1.0, 2.0], [1.0, None], [np.nan, np.nan], [1.0, np.nan], []])
def test_factor_varies_as_on_the_series(factor: list) -> None:
    frame = pl.DataFrame({"adj_factor": factor}, schema={"adj_factor": pl.Float64})
    series = frame["adj_factor"]
    want = bool(frame.height and (series.null_count() or series.min() != series.max()))
    assert mk._factor_varies(frame) is want


@pytest.mark.parametrize("case", ["minimal", "suspended", "factor_step", "nan_close"])
def test_previous_close_rows_equal_the_previous_session_close(case: str) -> None:
    """On a dense daily frame the limits' reference is the previous bar's raw close, built in the (N, T)
    space of the frame's columns; `_prev_close_rows` declines (None) where `_prev_session_close` does more."""
    bars = _minimal()
    if case == "suspended":
        bars = bars.with_columns(suspended=pl.int_range(pl.len()) % 17 == 3)
    elif case == "factor_step":
        bars = bars.with_columns(adj_factor=pl.when(pl.int_range(pl.len()) % 60 > 30).then(1.1).otherwise(1.0))
    elif case == "nan_close":
        bars = bars.with_columns(raw_close=pl.when(pl.int_range(pl.len()) == 7).then(np.nan).otherwise("raw_close"))
    m = mk.prepare_market(bars, EngineConfig(preset="plain"))
    lay = mk._layout(bars)
    space = mk._Space(lay)
    rows = mk._prev_close_rows(m, bars, space, space.get("raw_close"))
    if case != "minimal":
        assert rows is None
        return
    want = mk._prev_session_close(m, bars, lay.shared, lay.shared("raw_close"))
    assert rows is not None and rows.flags.c_contiguous and rows.flags.writeable
    assert rows.tobytes() == np.ascontiguousarray(want.T).tobytes()


def test_plain_markets_skip_the_instrument_rows_they_do_not_read() -> None:
    """Lot sizes without lot rules do not depend on the boards: the same market with or without the
    (default) instrument rows; a given instrument frame is still read (and checked)."""
    bars = _minimal()
    config = EngineConfig(preset="plain")
    assert not mk._reads_instruments(config.rules()) and mk._reads_instruments(EngineConfig().rules())
    without = mk.prepare_market(bars, config)
    inst = mk._instruments(without.symbols, None)
    given = mk.prepare_market(bars, config, inst)
    assert np.array_equal(without.lot_min, given.lot_min) and np.array_equal(without.lot_step, given.lot_step)
    with pytest.raises(pl.exceptions.ColumnNotFoundError):
        mk.prepare_market(bars, config, inst.drop("board"))


def _dated(name: str) -> pl.DataFrame:
    """The shared bench's kind of frame (`pl.from_pandas`: a naive Datetime `date`, no `ts`, Int64 volume) and
    variants that `contract._normalize_dated` also takes."""
    bars = gbm_bars(SYMBOLS, sessions=30, seed=11)
    stamp, volume = pl.col("date").cast(pl.Datetime("us")), pl.col("volume").cast(pl.Int64)
    base = bars.select("symbol", stamp, "open", "high", "low", "close", volume).sort("symbol", "date")
    return {
        "bench": base,
        "date_dtype": base.with_columns(pl.col("date").dt.date()),
        "intraday_ms": base.with_columns((pl.col("date") + pl.duration(hours=9, minutes=31)).cast(pl.Datetime("ms"))),
        "float_volume_int_open": base.with_columns(pl.col("volume").cast(pl.Float64), pl.col("open").cast(pl.Int64)),
        "null_and_nan_prices": base.with_columns(
            close=pl.when(pl.int_range(pl.len()) == 5).then(None).otherwise("close"),
            high=pl.when(pl.int_range(pl.len()) == 8).then(float("nan")).otherwise("high"),
        ),
        "given_columns": base.with_columns(
            (pl.col("close") * 0.99).alias("pre_close"),
            pl.when(pl.int_range(pl.len()) % 3 == 0).then(None).otherwise(pl.col("close") * 1.1).alias("up_limit"),
            pl.lit(2.0).alias("adj_factor"),
            (pl.col("open") * 2).alias("raw_open"),
            (pl.col("volume") * 10.0).alias("amount"),
            (pl.int_range(pl.len()) % 7 == 0).alias("suspended"),
        ),
        "several_chunks": pl.concat([base.head(41), base.slice(41)], rechunk=False),
        "narrow_numbers": base.with_columns(  # numpy's conversions on the hashing thread, as polars' casts
            pl.col("volume").cast(pl.UInt32), pl.col("close").cast(pl.Float32), (pl.col("low") * 10).cast(pl.Int16)
        ),
        "null_volume": base.with_columns(
            pl.when(pl.int_range(pl.len()) == 3).then(None).otherwise("volume").alias("volume")
        ),
        "extra_columns": base.with_columns(pl.lit("x").alias("note"), (pl.col("close") * 2).alias("vwap")),
    }[name]


@pytest.mark.parametrize(
    "name",
    ["bench", "date_dtype", "intraday_ms", "float_volume_int_open", "null_and_nan_prices", "given_columns",
     "several_chunks", "extra_columns", "narrow_numbers", "null_volume"],
)  # fmt: skip
def test_early_data_hash_equals_the_hash_of_the_normalised_frame(name: str, monkeypatch) -> None:
    """`early_data_hash` hashes a dated frame from the input, before and without its normalised columns
    (derived columns in row chunks, constants as repeated blocks): the digest of the normalised frame."""
    from quant.contract import normalize_bars_dated, symbol_run_starts

    monkeypatch.setattr(mk, "SYNC_HASH_ROWS", 0)
    monkeypatch.setattr(mk, "HASH_CHUNK_ROWS", 7)  # chunks end inside and across the symbols' runs
    frame = _dated(name)
    early = mk.early_data_hash(frame)
    assert early is not None
    normal, dated = normalize_bars_dated(frame)
    assert dated
    assert early.confirm(dated).result() == mk.data_hash(normal)
    np.testing.assert_array_equal(early.symbol_runs(), symbol_run_starts(normal["symbol"]))  # handed to the market
    by_runs, dated_by_runs = normalize_bars_dated(frame, runs=early.symbol_runs)  # the order check on the runs
    assert dated_by_runs and by_runs.equals(normal)


@pytest.mark.parametrize(
    "symbols",
    [["a", "a", "b", "c", "c"], ["b", "b", "a"], ["a", "b", "a"], ["x"] * 4, ["a", "é", "é", "z"], ["z", "é"],
     ["600000.SH", "000001.SZ"], ["000001.SZ", "600000.SH", "600000.SH"]],
)  # fmt: skip
def test_order_check_on_the_symbol_runs_equals_the_full_check(symbols: list[str]) -> None:
    """`contract._sorted_keys` with the column's runs compares only the runs' symbols: the answer of the full
    check (sorted, unsorted, a symbol coming back, one symbol, non-ASCII)."""
    from quant.contract import _sorted_keys, symbol_run_starts

    sym = pl.Series(symbols)
    ts = np.arange(len(symbols), dtype=np.int64)[::-1].copy()  # every row a stay: the symbols decide
    starts = symbol_run_starts(sym)
    for stamps in (ts, np.arange(len(symbols), dtype=np.int64)):
        assert _sorted_keys(sym, stamps, lambda: starts) == _sorted_keys(sym, stamps)


@pytest.mark.parametrize("block_bytes", [4, 8, 20, 36, 1 << 20])
def test_run_ids_fed_by_blocks_are_the_bytes_of_the_whole_column(block_bytes: int, monkeypatch) -> None:
    """`_update_run_ids` feeds the symbol column's run numbers from one reused block (blocks ending inside, at
    and across runs, runs of one row): the bytes of `_run_ids`' whole array, so the same digest."""
    import hashlib

    from quant.contract import symbol_run_starts

    monkeypatch.setattr(mk, "_HASH_BLOCK_BYTES", block_bytes)
    symbols = pl.Series(["a"] * 5 + ["b"] + ["c"] * 3 + ["d"] * 9 + ["e"])
    starts = symbol_run_starts(symbols)
    blocks, whole = hashlib.sha256(), hashlib.sha256()
    mk._update_run_ids(blocks, starts)
    whole.update(np.ascontiguousarray(mk._run_ids(symbols)))
    assert blocks.hexdigest() == whole.hexdigest()


def test_floor_days_is_the_datetime_cast_to_days() -> None:
    """`contract.floor_days` (an integer floor division) gives numpy's `datetime64[D]` cast of stamps in every
    unit polars has, before and after 1970, one unit either side of midnight, and into a given buffer."""
    from quant.contract import floor_days

    rng = np.random.default_rng(5)
    for unit, per in (("s", 86_400), ("ms", 86_400_000), ("us", 86_400_000_000), ("ns", 86_400_000_000_000)):
        days = np.arange(-40_000, 40_000, 7)
        stamps = np.concatenate([days * per - 1, days * per, days * per + 1, rng.integers(-(2**60), 2**60, 10_000)])
        moments = stamps.astype(f"datetime64[{unit}]")
        expected = moments.astype("datetime64[D]").view(np.int64)
        np.testing.assert_array_equal(floor_days(moments), expected)
        out = np.empty(moments.size, np.int64)
        assert floor_days(moments, out) is out
        np.testing.assert_array_equal(out, expected)
    hours = (np.arange(-100, 100) * 5).astype("datetime64[h]")  # other units take numpy's cast
    np.testing.assert_array_equal(floor_days(hours), hours.astype("datetime64[D]").view(np.int64))


def test_early_data_hash_steps_aside_when_the_frame_needs_sorting(monkeypatch) -> None:
    """An unsorted dated frame goes to the general path (which sorts it): the early job stops and hands back
    nothing, and `run_independent` records the hash of the sorted frame."""
    from quant import run_independent
    from quant.contract import normalize_bars_dated

    monkeypatch.setattr(mk, "SYNC_HASH_ROWS", 0)
    frame = _dated("bench").reverse()
    early = mk.early_data_hash(frame)
    assert early is not None
    normal, dated = normalize_bars_dated(frame)
    assert not dated and early.confirm(dated) is None
    result = run_independent("ma_cross", frame, {"fast": 3, "slow": 8}, EngineConfig(preset="plain"))
    assert result.manifest["data_hash"] == mk.data_hash(normal)


@pytest.mark.parametrize("preset", ["plain", "a-share"])
def test_independent_runs_of_a_dated_frame_record_the_normalised_frames_hash(preset: str, monkeypatch) -> None:
    """`run_independent` on a large dated frame takes the early hash; its results and manifest are those of
    the normalised frame run with the hash computed after the normalisation."""
    from quant import run_independent

    frame = _dated("bench")
    config = EngineConfig(preset=preset, fill="next_open", shares="integer")
    monkeypatch.setattr(mk, "SYNC_HASH_ROWS", 10**9)
    expected = run_independent("ma_cross", normalize_bars(frame), {"fast": 3, "slow": 8}, config)
    monkeypatch.setattr(mk, "SYNC_HASH_ROWS", 0)
    calls, original = [], mk._dated_hash
    monkeypatch.setattr(mk, "_dated_hash", lambda *a: calls.append(1) or original(*a))
    got = run_independent("ma_cross", frame, {"fast": 3, "slow": 8}, config)
    assert calls == [1]
    assert got.manifest == expected.manifest
    assert got.summary.equals(expected.summary)
    assert got.manifest["data_hash"] == mk.data_hash(normalize_bars(frame))


@pytest.mark.parametrize("preset", ["plain", "a-share"])
def test_lane_major_panels_hold_the_same_cells(preset: str) -> None:
    """`prepare_market(lane_major=True)`: on a dense layout the price panels are transposed views of the
    frame's columns instead of C-ordered copies; every panel holds the same cells."""
    bars = _minimal()
    config = EngineConfig(preset=preset, fill="next_open")
    copied, viewed = mk.prepare_market(bars, config), mk.prepare_market(bars, config, lane_major=True)
    assert viewed.dense and not viewed.exec_px.flags.c_contiguous and copied.exec_px.flags.c_contiguous
    for name in ("exec_px", "close", "mark", "suspended", "buy_block", "sell_block", "transfer_value"):
        assert np.array_equal(getattr(copied, name), getattr(viewed, name), equal_nan=True), name


@pytest.mark.parametrize("preset", ["plain", "a-share"])
def test_independent_runs_on_lane_major_panels_equal_those_on_copies(preset: str, monkeypatch) -> None:
    """`run_independent` reads lane-major panels (`lane_major=True`); its full results — equity, orders, fills,
    round trips, end-of-day positions and metrics — are those of the C-ordered panels."""
    from quant import engine, run_independent

    bars = _minimal()
    config = EngineConfig(preset=preset, fill="next_open", shares="integer")
    got = run_independent("ma_cross", bars, {"fast": 3, "slow": 8}, config, full=True)
    prepare = engine.prepare_market
    monkeypatch.setattr(engine, "prepare_market", lambda *a, lane_major=False, **k: prepare(*a, **k))
    want = run_independent("ma_cross", bars, {"fast": 3, "slow": 8}, config, full=True)
    assert got.summary.equals(want.summary)
    for a, b in zip(got.results, want.results, strict=True):
        for frame in ("equity", "orders", "fills", "trades", "positions"):
            assert getattr(a, frame).equals(getattr(b, frame)), frame
        assert a.metrics == b.metrics


def test_market_and_rows_trusts_its_normalised_bars(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every caller of `engine.market_and_rows` normalises the bars first: `prepare_market` is told so and
    does not check the frame a second time; the market is the one it builds after its own check."""
    from quant.engine import market_and_rows
    from quant.templates import load_template

    bars, config = _minimal(), EngineConfig(preset="a-share")
    spec, sets = load_template("ma_cross"), [{"fast": 5, "slow": 20}]
    checked = mk.prepare_market(bars, config)

    def no_check(frame, *args, **kwargs):
        raise AssertionError("normalised twice")

    monkeypatch.setattr(mk, "normalize_bars", no_check)
    m, rows = market_and_rows(spec, bars, sets, config, None)
    assert rows.shape == (1, bars.height) and m.data_hash == checked.data_hash
    for name in ("exec_px", "close", "mark", "suspended", "buy_block", "sell_block", "session"):
        assert np.array_equal(getattr(m, name), getattr(checked, name), equal_nan=True), name
