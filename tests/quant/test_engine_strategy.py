"""Strategy loading, parameter validation, templates, contract and grids."""

from __future__ import annotations

import datetime as dt
import subprocess
import sys

import numpy as np
import polars as pl
import pytest

from quant import (
    BAR_SCHEMA,
    ContractError,
    EngineConfig,
    ParamError,
    StrategyError,
    contract,
    get_template,
    grid_sets,
    list_templates,
    load_strategy,
    normalize_bars,
    run_backtest,
    run_grid,
    run_independent,
    schema_to_json,
    sdk,
    validate_bars,
    validate_params,
)
from quant.contract import _normalize_dated, _normalize_general, _normalize_typed, infer_board
from quant.rulebook import round_half_up_cent
from quant.sdk import Columns, kahan_window_sums, sma
from quant.synthetic import gbm_bars, with_fundamentals
from quant.templates import load_template

USER_SOURCE = '''
"""Buy and hold."""
import polars as pl
from quant.sdk import param

PARAMS = [param("weight", float, default=1.0, min=0, max=1, description="held fraction")]


def generate(bars, params):
    return bars.select("ts", "symbol", pl.lit(params["weight"]).alias("weight"))
'''


def test_user_strategy_runs_and_is_hashed(sample_bars) -> None:
    spec = load_strategy(USER_SOURCE, name="hold")
    assert spec.doc == "Buy and hold."
    assert schema_to_json(spec.params)[0]["type"] == "float"
    result = run_backtest(spec, sample_bars, {"weight": 0.9})
    assert result.metrics["fill_count"] == 3
    assert result.manifest["strategy_hash"] == spec.source_hash


@pytest.mark.parametrize("source", ["import os\ndef generate(b, p): pass", "from subprocess import run", "def f(:"])
def test_forbidden_or_broken_source_is_rejected(source: str) -> None:
    with pytest.raises(StrategyError):
        load_strategy(source)


def test_params_are_coerced_and_errors_name_the_field() -> None:
    spec = get_template("ma_cross")
    schema = load_strategy(spec.source).params
    assert validate_params(schema, {"fast": "12"}) == {"fast": 12, "slow": 30}
    with pytest.raises(ParamError) as err:
        validate_params(schema, {"slow": 1000})
    assert err.value.field == "slow"
    with pytest.raises(ParamError) as err:
        validate_params(schema, {"fats": 3})
    assert err.value.field == "fats"
    assert err.value.message == "unknown parameter; did you mean 'fast'?"
    with pytest.raises(ParamError) as err:
        validate_params(schema, {"window": 3})
    assert err.value.message == "unknown parameter"  # nothing close: no guess


@pytest.mark.parametrize("template", [t.name for t in list_templates()])
def test_every_template_runs_on_a_universe(template: str, sample_bars) -> None:
    info = get_template(template)
    assert info.doc and info.params
    bars = with_fundamentals(sample_bars, load_template(template).fields)  # value_rotation reads pb
    result = run_backtest(template, bars, {}, EngineConfig())
    assert result.equity.height == 400
    assert result.metrics["final_equity"] > 0


def test_minimal_frame_gets_contract_defaults() -> None:
    frame = pl.DataFrame({"date": ["2024-01-02", "2024-01-03"], "open": [1, 2], "high": [1, 2], "low": [1, 2],
                          "close": [1, 2], "volume": [10, 10]})  # fmt: skip
    bars = normalize_bars(frame)
    validate_bars(bars)
    assert bars.schema == pl.Schema(BAR_SCHEMA)
    assert bars["ts"][0] == dt.datetime(2024, 1, 2, 15)
    with pytest.raises(ContractError):
        validate_bars(frame)


@pytest.mark.parametrize(
    ("column", "values", "message"),
    [
        ("symbol", ["000001.SZ", None, "000002.SZ"], "1 row without a symbol"),
        ("date", ["2024-01-02", None, "2024-01-04"], "1 row without a date"),
        ("date", [None, None, "2024-01-04"], "2 rows without a date"),
    ],
)
def test_rows_without_a_key_are_refused_with_the_count(column: str, values: list, message: str) -> None:
    """A bar needs its symbol and its time: such rows were simulated as a bar of no day (or broke the data
    hash), on every path of `normalize_bars` (a pandas-like Datetime `date`, text dates, a typed `ts`)."""
    frame = pl.DataFrame({"symbol": ["000001.SZ"] * 3, "date": ["2024-01-02", "2024-01-03", "2024-01-04"],
                          "open": [1.0] * 3, "high": [1.0] * 3, "low": [1.0] * 3, "close": [1.0] * 3,
                          "volume": [10] * 3})  # fmt: skip
    frame = frame.with_columns(pl.Series(column, values, dtype=pl.Utf8))
    variants = [frame, frame.with_columns(pl.col("date").str.to_datetime("%Y-%m-%d"))]
    if column == "symbol":  # a typed frame with `ts` (the one-call path)
        valid = normalize_bars(frame.with_columns(pl.col("symbol").fill_null("000001.SZ")))
        variants.append(valid.with_columns(pl.Series("symbol", values, dtype=pl.Utf8)))
    for variant in variants:
        with pytest.raises(ContractError, match=message):
            normalize_bars(variant)


def test_boards_and_limit_rounding() -> None:
    assert [infer_board(s) for s in ("600000.SH", "000001.SZ", "300750.SZ", "688981.SH", "430047.BJ", "920001.BJ")] == [
        "main", "main", "chinext", "star", "bse", "bse"]  # fmt: skip
    assert round_half_up_cent(1.05 * 1.1) == 1.16
    assert round_half_up_cent(2.675) == 2.68


def test_grid_matches_individual_runs(sample_bars) -> None:
    bars = sample_bars.filter(pl.col("symbol") == "300750.SZ")
    sets = [{"fast": f, "slow": s} for f in (5, 10) for s in (20, 40)]
    grid = run_grid("ma_cross", bars, sets, EngineConfig(), full=True)
    assert grid.summary.height == 4
    for row, params, full in zip(grid.summary.to_dicts(), sets, grid.results, strict=True):
        single = run_backtest("ma_cross", bars, params, EngineConfig())
        assert row["final_equity"] == pytest.approx(single.metrics["final_equity"], rel=1e-12)
        assert row["sharpe"] == pytest.approx(single.metrics["sharpe"], rel=1e-9)
        assert row["trade_count"] == single.metrics["trade_count"]
        assert full.equity.equals(single.equity)


def test_independent_runs_match_single_symbol_runs(sample_bars) -> None:
    summary = run_independent("ma_cross", sample_bars, {"fast": 5, "slow": 20}).summary
    for row in summary.to_dicts():
        single = run_backtest(
            "ma_cross", sample_bars.filter(pl.col("symbol") == row["symbol"]), {"fast": 5, "slow": 20}
        )
        assert row["final_equity"] == pytest.approx(single.metrics["final_equity"], rel=1e-12)


def test_benchmark_metrics_are_reported(sample_bars) -> None:
    bench = sample_bars.filter(pl.col("symbol") == "000001.SZ").with_columns(pl.lit("000300.SH").alias("symbol"))
    result = run_backtest("ma_cross", pl.concat([sample_bars, bench]), {}, EngineConfig(benchmark_symbol="000300.SH"))
    assert result.manifest["symbols"] == 3
    assert np.isfinite(result.metrics["beta"])


@pytest.mark.parametrize("preset", ["plain", "a-share"])
def test_grid_summary_rows_equal_single_run_metrics(sample_bars, preset: str) -> None:
    """Every vectorised summary column equals the metrics of running that combination alone."""
    bars = sample_bars.filter(pl.col("symbol") == "688981.SH")
    config = EngineConfig(preset=preset, shares="fractional", initial_cash=250_000)
    sets = [{"fast": f, "slow": s} for f in (3, 8) for s in (15, 35)]
    summary = run_grid("ma_cross", bars, sets, config).summary
    keys = ("total_return", "annual_return", "volatility", "sharpe", "sortino", "max_drawdown", "calmar",
            "final_equity", "total_fees", "exposure")  # fmt: skip
    for row, params in zip(summary.to_dicts(), sets, strict=True):
        single = run_backtest("ma_cross", bars, params, config).metrics
        for key in keys:
            assert row[key] == pytest.approx(single[key], rel=1e-9, abs=1e-12, nan_ok=True), key
        assert row["trade_count"] == single["trade_count"]
        assert row["fill_count"] == single["fill_count"]


def _polars_means(values: np.ndarray, window: int) -> np.ndarray:
    return pl.DataFrame({"c": values}).select(pl.col("c").rolling_mean(window))["c"].to_numpy()


def _same_floats(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal bit for bit (the sign of zero too), NaN where the other is NaN."""
    nan = np.isnan(a)
    return bool(np.array_equal(nan, np.isnan(b)) and np.array_equal(a[~nan].view(np.int64), b[~nan].view(np.int64)))


def _kahan_cases() -> list[np.ndarray]:
    """Finite series where a rolling sum's rounding shows: quotes, cents, huge and tiny magnitudes, mixed
    signs with cancellation, exact ties and zeros of both signs, flat runs, values near overflow."""
    rng = np.random.default_rng(14)
    cases = []
    for i in range(240):
        n = int(rng.integers(1, 60)) if i % 4 == 0 else int(rng.integers(60, 3000))
        kind = i % 8
        if kind == 0:
            x = 100 * np.exp(np.cumsum(rng.normal(0, 0.02, n)))
        elif kind == 1:
            x = np.round(rng.uniform(1, 300, n), 2)
        elif kind == 2:
            x = rng.normal(0, 1, n) * 10.0 ** float(rng.integers(-300, 300))
        elif kind == 3:
            x = rng.choice([0.0, -0.0, 1.0, -1.0, 1e16, -1e16, 3.0, 1e-300], n)
        elif kind == 4:
            x = rng.normal(0, 1, n) * 10.0 ** rng.uniform(-20, 20, n)
        elif kind == 5:
            x = np.repeat(rng.uniform(1, 100, n // 30 + 1), 30)[:n]
        elif kind == 6:
            x = rng.uniform(1e300, 1.7e307, n) * rng.choice([-1.0, 1.0], n)
        else:
            x = rng.integers(-5, 5, n) * 0.1
        cases.append(x)
    return cases


def test_kahan_window_sums_equal_polars() -> None:
    """`kahan_window_sums` / window is polars' `rolling_mean` bit for bit (NaN where polars gives null), on
    every kind of finite series and on windows from 2 to longer than the series."""
    rng = np.random.default_rng(15)
    for x in _kahan_cases():
        for w in {2, 3, int(rng.integers(2, 12)), int(rng.integers(12, 420)), x.size, x.size + 1}:
            if w < 2:
                continue
            got = np.full(x.size, np.nan)
            if x.size >= w:
                got[w - 1 :] = kahan_window_sums(memoryview(x), w)
            got /= w
            assert _same_floats(got, _polars_means(x, w)), (x[:5], x.size, w)


def _off_cent_bars(symbols: list[str], sessions: int, seed: int) -> pl.DataFrame:
    """Contract bars whose prices are not decimals: the SMAs are polars' rolling means, not exact sums."""
    bars = normalize_bars(gbm_bars(symbols, sessions=sessions, seed=seed))
    factor = pl.Series(1.0 + np.random.default_rng(seed).normal(0, 1e-7, bars.height))
    return bars.with_columns([(pl.col(c) * factor).alias(c) for c in ("open", "high", "low", "close")])


def _no_query(monkeypatch: pytest.MonkeyPatch) -> None:
    def no_query(*args, **kwargs):
        raise AssertionError("a polars query ran")

    monkeypatch.setattr(pl.LazyFrame, "_collect_eager", no_query)
    monkeypatch.setattr(pl.LazyFrame, "collect", no_query)


@pytest.mark.parametrize("symbols", [1, 3])
def test_small_rolling_means_run_without_a_polars_query(symbols: int, monkeypatch: pytest.MonkeyPatch) -> None:
    """Up to `LOOP_STEPS` rows × windows, `Columns` computes polars' rolling means on Python floats per
    symbol (a process's first polars query costs ~2 ms): the numbers of `sdk.sma`, bit for bit; past the
    budget, or with a null or a NaN, polars computes them as before."""
    bars = _off_cent_bars([f"{600000 + i:06d}.SH" for i in range(symbols)], 2400 // symbols, 5)
    windows = [2, 10, 30]
    want = bars.select(sma(w).alias(str(w)) for w in windows)
    nan_bars = bars.with_columns(pl.when(pl.int_range(pl.len()) == 50).then(np.nan).otherwise("close").alias("close"))
    nan_want = nan_bars.select(sma(w).alias(str(w)) for w in windows)
    with monkeypatch.context() as patched:
        _no_query(patched)
        cols = Columns(bars)
        got = [cols.rolling_mean(w) for w in windows[:2]] + [cols.rolling_means(windows[2:])[0]]
        assert cols._loop_steps == sdk.LOOP_STEPS - bars.height * len(windows)
        with pytest.raises(AssertionError, match="polars query"):  # the budget is spent: polars
            Columns(bars).rolling_means([2, 3, 4, 5, 6])
        with pytest.raises(AssertionError, match="polars query"):  # a NaN: polars
            Columns(nan_bars).rolling_mean(10)
    for g, w in zip(got, windows, strict=True):
        assert _same_floats(g, want[str(w)].to_numpy()), w
    assert not (got[0].flags.writeable or got[1].flags.writeable)  # the cached arrays, as polars' were
    assert _same_floats(Columns(nan_bars).rolling_mean(10), nan_want["10"].to_numpy())
    over_budget = Columns(bars).rolling_means([2, 3, 4, 5, 6])
    expected = bars.select(sma(w).alias(str(w)) for w in (2, 3, 4, 5, 6))
    assert all(_same_floats(over_budget[i], expected[str(w)].to_numpy()) for i, w in enumerate((2, 3, 4, 5, 6)))


@pytest.mark.parametrize("preset", ["plain", "a-share"])
def test_a_small_single_run_runs_no_polars_query(preset: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """One `ma_cross` run on 2,500 bars of non-decimal prices from pandas (the shared bench's S1) runs no
    polars query at all, and its result is the one computed with polars' rolling means."""
    stamp, volume = pl.col("date").cast(pl.Datetime("us")), pl.col("volume").cast(pl.Int64)
    frame = _off_cent_bars(["600000.SH"], 2500, 9).select("symbol", stamp, "open", "high", "low", "close", volume)
    config = EngineConfig(preset=preset, shares="integer")
    with monkeypatch.context() as patched:
        _no_query(patched)
        fast = run_backtest("ma_cross", frame, {"fast": 10, "slow": 30}, config)
    monkeypatch.setattr(sdk, "LOOP_STEPS", 0)
    expected = run_backtest("ma_cross", frame, {"fast": 10, "slow": 30}, config)
    for name in ("equity", "orders", "fills", "trades", "positions"):
        assert getattr(fast, name).equals(getattr(expected, name)), name
    assert fast.metrics == expected.metrics and fast.manifest == expected.manifest
    assert fast.fills.height > 20


@pytest.mark.parametrize("preset", ["plain", "a-share"])
def test_independent_summary_rows_equal_each_symbols_full_metrics(preset: str) -> None:
    """`run_independent`'s summary (lane-major blocks in reused buffers) equals each symbol's full metrics —
    49 symbols, so the last block is one lane."""
    bars = gbm_bars([f"{600000 + i:06d}.SH" for i in range(49)], sessions=160, seed=17)
    config = EngineConfig(preset=preset, shares="integer")
    g = run_independent("ma_cross", bars, {"fast": 5, "slow": 20}, config, full=True)
    keys = ("total_return", "annual_return", "volatility", "sharpe", "sortino", "max_drawdown", "calmar",
            "final_equity", "total_fees", "exposure", "trade_count", "fill_count")  # fmt: skip
    for row, result in zip(g.summary.to_dicts(), g.results, strict=True):
        for key in keys:
            assert row[key] == pytest.approx(result.metrics[key], rel=1e-9, abs=1e-12, nan_ok=True), (
                row["symbol"],
                key,
            )


@pytest.mark.parametrize("layout", ["equal", "unequal", "nulls", "nan"])
def test_columns_rolling_means_equal_the_sma_expression(layout: str) -> None:
    """`Columns.rolling_means` gives `sdk.sma`'s numbers, NaN where it is null: exactly when a close is
    null or NaN (polars' rolling mean, one frame column per symbol or `.over("symbol")`), and to the
    last ulp on finite cent prices (exact decimal sums: `test_engine_ties.py`)."""
    bars = normalize_bars(gbm_bars([f"{600000 + i:06d}.SH" for i in range(7)], sessions=120, seed=3))
    if layout == "unequal":
        bars = bars.filter(~((pl.col("symbol") == "600002.SH") & (pl.col("date") < dt.date(2015, 2, 1))))
    elif layout == "nulls":
        bars = bars.with_columns(pl.when(pl.int_range(pl.len()) % 37 == 5).then(None).otherwise("close").alias("close"))
    elif layout == "nan":
        bars = bars.with_columns(
            pl.when(pl.int_range(pl.len()) % 41 == 7).then(np.nan).otherwise("close").alias("close")
        )
    windows = [2, 5, 20, 30]
    cols = Columns(bars)
    assert (cols._wide("close") is not None) == (layout in ("equal", "nan"))
    got = cols.rolling_means(windows)
    want = bars.select(sma(w).alias(str(w)) for w in windows)
    exact = layout in ("nulls", "nan")
    for i, w in enumerate(windows):
        expected = want[str(w)].to_numpy()
        if exact:
            assert np.array_equal(got[i], expected, equal_nan=True), w
        else:
            assert np.array_equal(np.isnan(got[i]), np.isnan(expected)), w
            assert np.allclose(got[i], expected, rtol=1e-14, atol=0, equal_nan=True), w
    assert cols.n_symbols == 7
    for i, w in enumerate(windows):  # one SMA: the cached array itself, read-only like `cols["close"]`
        single = Columns(bars).rolling_mean(w) if i % 2 else cols.rolling_mean(w)
        assert np.array_equal(single, got[i], equal_nan=True) and not single.flags.writeable
    assert cols.rolling_mean(5) is cols.rolling_mean(5)
    one_by_one = Columns(bars)  # window by window, as `ma_cross.generate_arrays` asks: the same arrays
    for i, w in enumerate(windows):
        assert np.array_equal(one_by_one.rolling_mean(w), got[i], equal_nan=True), w


def test_check_params_is_applied_before_a_run_and_must_fail_cleanly(sample_bars) -> None:
    with pytest.raises(ParamError) as caught:
        run_backtest("ma_cross", sample_bars, {"fast": 30, "slow": 30})
    assert caught.value.field == "fast"
    broken = USER_SOURCE + "\n\ndef check_params(params):\n    return 1 / 0\n"
    with pytest.raises(StrategyError, match="check_params failed: ZeroDivisionError"):
        run_backtest(load_strategy(broken, name="broken"), sample_bars)
    kept, skipped = grid_sets("rsi_reversion", {"lower": [20.0, 80.0], "upper": [70.0]}, {"window": 10})
    assert kept == [{"window": 10, "lower": 20.0, "upper": 70.0}]
    assert [(p["lower"], e.field) for p, e in skipped] == [(80.0, "lower")]


def test_templates_load_as_checked_user_sources_would() -> None:
    """Templates skip the import check's tree walk (`load_engine_strategy`); they pass that check, and the
    spec (doc, hash, parameters, entry points) equals what `load_strategy` gives for the same source."""
    from quant.strategy import load_strategy
    from quant.templates import TEMPLATE_NAMES, load_template

    for name in TEMPLATE_NAMES:
        fast, checked = load_template(name), load_strategy(load_template(name).source, name=name)
        assert (fast.doc, fast.source_hash, fast.params) == (checked.doc, checked.source_hash, checked.params)
        for entry in ("generate_grid", "generate_arrays", "generate_grid_arrays", "check_params"):
            assert (getattr(fast, entry) is None) == (getattr(checked, entry) is None), (name, entry)


def test_a_template_run_does_not_create_the_browsing_class() -> None:
    """`TemplateInfo` (a named tuple: its class compiles string annotations) is created when templates are
    browsed, not when a run imports `quant.templates` to load its template; then it is the same class."""
    script = (
        "import sys\n"
        "from quant import run_backtest\n"
        "from quant.synthetic import gbm_bars\n"
        "run_backtest('ma_cross', gbm_bars(sessions=60), {'fast': 5, 'slow': 20})\n"
        "import quant.templates as t\n"
        "assert 'quant.templates.info' not in sys.modules and 'TemplateInfo' not in vars(t)\n"
        "from quant.templates import TemplateInfo\n"
        "info = t.get_template('ma_cross')\n"
        "assert type(info) is TemplateInfo is t.TemplateInfo and info.to_json()['name'] == 'ma_cross'\n"
        "print('ok')\n"
    )
    out = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and out.stdout.strip() == "ok", out.stderr


def test_templates_run_from_the_bytecode_cache(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:
    """With a valid `__pycache__` entry a template's code is read, not compiled; it is the source's code
    under the strategy's file name (`user_error` finds the strategy's frames by it)."""
    import builtins
    import py_compile
    import types

    from quant.templates import TEMPLATE_DIR, _template_code

    path = tmp_path / "ma_cross.py"
    path.write_text((TEMPLATE_DIR / "ma_cross.py").read_text(encoding="utf-8"), encoding="utf-8")
    py_compile.compile(str(path), doraise=True)
    expected = compile(path.read_text(encoding="utf-8"), "ma_cross", "exec", dont_inherit=True)

    def no_compile(*args, **kwargs):
        raise AssertionError("compiled from source")

    monkeypatch.setattr(builtins, "compile", no_compile)
    code = _template_code(path, "ma_cross")
    monkeypatch.undo()

    def walk(c: types.CodeType):
        yield c
        for const in c.co_consts:
            if isinstance(const, types.CodeType):
                yield from walk(const)

    assert {c.co_filename for c in walk(code)} == {"ma_cross"}
    assert [(c.co_name, c.co_code, c.co_firstlineno) for c in walk(code)] == [
        (c.co_name, c.co_code, c.co_firstlineno) for c in walk(expected)
    ]


def _minimal_frames() -> dict[str, pl.DataFrame]:
    bars = gbm_bars(["600000.SH", "000001.SZ", "300750.SZ"], sessions=40, seed=3)
    rng = np.random.default_rng(4)
    return {
        "minimal": bars.select("symbol", "date", "ts", "open", "high", "low", "close", "volume"),
        "with_pre_close": bars,
        "unsorted": bars.sample(fraction=1.0, shuffle=True, seed=5),
        "extra_column": bars.with_columns(pl.lit(1).alias("extra")),
        "flags_with_nulls": bars.with_columns(
            pl.Series(
                "suspended",
                [None if r < 0.2 else bool(r > 0.9) for r in rng.random(bars.height).tolist()],
                dtype=pl.Boolean,
            ),
            pl.Series("is_st", [None] * bars.height, dtype=pl.Boolean),
        ),
        "one_row_per_symbol_ts_ties": pl.concat([bars.head(5), bars.head(5)]),
        "empty": bars.head(0),
        "concatenated": pl.concat([bars.filter(pl.col("symbol") == s) for s in ("000001.SZ", "300750.SZ")]),
    }


@pytest.mark.parametrize("name", list(_minimal_frames()))
def test_normalize_fast_path_equals_the_general_path(name: str) -> None:
    """Typed minimal frames take one polars call (`_normalize_typed`); the result is the general path's."""
    frame = _minimal_frames()[name].rechunk()
    fast = _normalize_typed(frame)
    assert fast is not None
    expected = _normalize_general(frame, "000001.SZ")
    assert fast.schema == expected.schema and fast.equals(expected)
    assert normalize_bars(frame).equals(expected)


def _dated_frames() -> dict[str, pl.DataFrame]:
    """Frames with a `date` but no `ts` (as a pandas frame converted with `pl.from_pandas` arrives)."""
    bars = gbm_bars(["600000.SH", "000001.SZ", "300750.SZ"], sessions=40, seed=7)
    stamp = pl.col("date").cast(pl.Datetime("us"))
    columns = ("symbol", stamp.alias("date"), "open", "high", "low", "close", pl.col("volume").cast(pl.Int64))
    base = bars.select(*columns).sort("symbol", "date")
    return {
        "datetime_us": base,
        "datetime_ms": base.with_columns(pl.col("date").cast(pl.Datetime("ms"))),
        "datetime_ns": base.with_columns(pl.col("date").cast(pl.Datetime("ns"))),
        "date": base.with_columns(pl.col("date").dt.date()),
        "intraday_times": base.with_columns(pl.col("date") + pl.duration(hours=9, minutes=31, microseconds=7)),
        "before_1970": base.with_columns(pl.col("date") - pl.duration(days=365 * 60, hours=3)),
        "no_symbol": base.filter(pl.col("symbol") == "600000.SH").drop("symbol"),
        "float32_prices": base.with_columns(pl.col("open", "close").cast(pl.Float32), pl.col("volume").cast(pl.Int32)),
        "null_price": base.with_columns(close=pl.when(pl.int_range(pl.len()) == 5).then(None).otherwise("close")),
        "given_columns": base.with_columns(
            (pl.col("close") * 0.99).alias("pre_close"), pl.lit(2.0).alias("adj_factor"), pl.lit(True).alias("is_st")
        ),
        "one_row": base.head(1),
        "empty": base.head(0),
        "several_chunks": pl.concat([base.head(50), base.slice(50)], rechunk=False).with_columns(
            pl.concat([base["close"].head(7) * 0.99, base["close"].slice(7) * 0.99], rechunk=False).alias("pre_close")
        ),
    }


@pytest.mark.parametrize("name", list(_dated_frames()))
def test_normalize_dated_path_equals_the_general_path(name: str) -> None:
    """Sorted frames with a `date` and no `ts` column are normalised column by column (`_normalize_dated`,
    no polars query); the result is the general path's, column for column and bit for bit."""
    frame = _dated_frames()[name]
    fast = _normalize_dated(frame, "000001.SZ")
    assert fast is not None
    expected = _normalize_general(frame, "000001.SZ")
    assert fast.schema == expected.schema and fast.equals(expected)
    assert normalize_bars(frame).equals(expected)
    assert normalize_bars(frame).n_chunks("all") == [1] * fast.width


@pytest.mark.parametrize("name", list(_dated_frames()))
def test_normalize_dated_defaults_as_series_equal_the_select(name: str, monkeypatch: pytest.MonkeyPatch) -> None:
    """Up to `EAGER_DEFAULT_ROWS` rows the dated path builds the defaults as Series; above, one `select`
    (scalar columns): the same frame, column for column, with the same sorted flags."""
    frame = _dated_frames()[name]
    eager = _normalize_dated(frame, "000001.SZ")
    monkeypatch.setattr(contract, "EAGER_DEFAULT_ROWS", 0)
    selected = _normalize_dated(frame, "000001.SZ")
    assert eager.schema == selected.schema and eager.equals(selected)
    assert [eager[c].flags for c in eager.columns] == [selected[c].flags for c in selected.columns]
    assert [eager[c].null_count() for c in eager.columns] == [selected[c].null_count() for c in selected.columns]


def test_small_dated_frames_normalise_without_a_polars_query(monkeypatch: pytest.MonkeyPatch) -> None:
    """A one-symbol frame from pandas (the bench's and most notebooks' input) is normalised without a lazy
    query: a process's first query costs ~2.5 ms, and the defaults' select hands its columns to the pool."""
    frame = _dated_frames()["datetime_us"]

    def no_query(*args, **kwargs):
        raise AssertionError("a polars query ran")

    monkeypatch.setattr(pl.LazyFrame, "_collect_eager", no_query)
    monkeypatch.setattr(pl.LazyFrame, "collect", no_query)
    out = normalize_bars(frame)
    assert out.height == frame.height and out.columns == list(BAR_SCHEMA)


@pytest.mark.parametrize("name", ["unsorted", "null_date", "time_zone", "string_flag"])
def test_normalize_dated_path_leaves_other_frames_to_the_general_path(name: str) -> None:
    base = _dated_frames()["datetime_us"]
    frame = {
        "unsorted": base.reverse(),
        "null_date": base.with_columns(pl.when(pl.int_range(pl.len()) == 3).then(None).otherwise("date").alias("date")),
        "time_zone": base.with_columns(pl.col("date").dt.replace_time_zone("Asia/Shanghai")),
        "string_flag": base.with_columns(pl.lit("no").alias("suspended")),
    }[name]
    assert _normalize_dated(frame, "000001.SZ") is None


def test_normalize_dated_path_flags_the_symbol_column_sorted() -> None:
    """The dated path has checked the (symbol, ts) order: the symbol column carries polars' sorted flag,
    so the readers' `is_sorted` checks (`Columns`) need no second scan."""
    dated = _dated_frames()["datetime_us"]
    dated = dated.with_columns(pl.Series("symbol", dated["symbol"].to_list()))  # as from pandas: no flag
    assert not dated["symbol"].flags["SORTED_ASC"]
    assert normalize_bars(dated)["symbol"].flags["SORTED_ASC"]


@pytest.mark.parametrize("frame", ["multi", "one_symbol", "empty"])
def test_symbol_runs_given_once_equal_each_readers_own_scan(frame: str) -> None:
    """`symbol_run_starts`, scanned once per run, gives the layout, the data hash and `Columns` exactly
    what each finds scanning the symbol column itself."""
    from quant.contract import symbol_run_starts
    from quant.market import _layout, data_hash

    bars = normalize_bars(gbm_bars(["600000.SH", "000001.SZ", "300750.SZ"], sessions=30, seed=3))
    bars = {
        "multi": bars,
        "one_symbol": bars.filter(pl.col("symbol") == "000001.SZ"),
        "empty": bars.head(0),
    }[frame]
    runs = symbol_run_starts(bars["symbol"])
    assert (runs is None) == (frame == "empty")
    assert data_hash(bars, runs) == data_hash(bars)
    own, given = _layout(bars), _layout(bars, runs)
    assert (own.symbols, own.dense) == (given.symbols, given.dense)
    assert np.array_equal(own.ts, given.ts)
    assert Columns(bars, runs=runs).n_symbols == Columns(bars).n_symbols
    if runs is not None:
        assert np.array_equal(Columns(bars, runs=runs)._run_starts(), Columns(bars)._run_starts())


def _block_frames() -> dict[str, pl.DataFrame]:
    bars = gbm_bars(["600000.SH", "000001.SZ", "300750.SZ", "688001.SH"], sessions=30, seed=6)
    block = {s: bars.filter(pl.col("symbol") == s) for s in ("688001.SH", "000001.SZ", "600000.SH", "300750.SZ")}
    return {
        "blocks_out_of_symbol_order": pl.concat(list(block.values())),
        "blocks_in_order": bars,
        "one_symbol": block["600000.SH"],
        "rows_shuffled": bars.sample(fraction=1.0, shuffle=True, seed=7),
        "a_symbol_in_two_blocks": pl.concat(
            [block["600000.SH"].head(10), block["000001.SZ"], block["600000.SH"].tail(20)]
        ),
        "a_block_out_of_time_order": pl.concat([block["688001.SH"].reverse(), block["000001.SZ"]]),
        "a_repeated_bar": pl.concat([block["300750.SZ"], block["300750.SZ"].tail(1), block["000001.SZ"]]),
    }


@pytest.mark.parametrize("block_rows", [1, 10**9], ids=["slices", "gather"])
@pytest.mark.parametrize("name", list(_block_frames()))
def test_sorting_symbol_blocks_by_a_gather_equals_polars_sort(name: str, block_rows: int, monkeypatch) -> None:
    """`sort_by_symbol_ts` reorders per-symbol blocks by concatenated slices or one gather (or falls back to
    the sort): the rows come out exactly as `frame.sort("symbol", "ts")` puts them, in one chunk per column."""
    from quant import contract
    from quant.contract import sort_by_symbol_ts

    monkeypatch.setattr(contract, "CONCAT_BLOCK_ROWS", block_rows)
    frame = _block_frames()[name]
    expected = frame.sort("symbol", "ts")
    got = sort_by_symbol_ts(frame)
    if name == "a_repeated_bar":  # two rows share (symbol, ts): only the keys' order is defined
        assert got.select("symbol", "ts").equals(expected.select("symbol", "ts"))
    else:
        assert got.equals(expected)
    if got is not frame:
        assert got.n_chunks("all") == [1] * got.width


@pytest.mark.parametrize("value", [np.float64(np.nan), np.False_], ids=["nan", "false"])
@pytest.mark.parametrize("blocks", [0, 1, 2])
def test_hashing_a_repeated_constant_feeds_the_bytes_of_the_whole_column(value, blocks: int) -> None:
    """The data hash feeds a constant column (all-null prices, all-False flags) as one block fed
    repeatedly: the digest is that of the whole column's `to_numpy` bytes, across block boundaries."""
    import hashlib

    from quant.market import _HASH_BLOCK_BYTES, _update_repeated

    n = blocks * (_HASH_BLOCK_BYTES // value.itemsize) + 3
    digest = hashlib.sha256()
    _update_repeated(digest, value, n)
    assert digest.hexdigest() == hashlib.sha256(np.full(n, value).tobytes()).hexdigest()


@pytest.mark.parametrize("lanes", [26, 49, 73, 90])
def test_grid_summary_sub_blocks_equal_whole_lane_blocks(monkeypatch, lanes: int) -> None:
    """The summary's sub-blocks of `SUB_BLOCK` lanes give the summary of whole `LANE_BLOCK` blocks bit for
    bit, also where a block of one lane remains (49 lanes; 73: its 25th lane stays with its sub-block)."""
    import quant.grid as grid

    bars = gbm_bars(["600000.SH"], sessions=400, seed=12)
    sets = [{"fast": 2 + i % 9, "slow": 12 + i} for i in range(lanes)]
    config = EngineConfig(preset="plain", shares="fractional")
    summary = run_grid("ma_cross", bars, sets, config, returns=True)
    monkeypatch.setattr(grid, "SUB_BLOCK", grid.LANE_BLOCK)
    whole = run_grid("ma_cross", bars, sets, config, returns=True)
    assert summary.summary.equals(whole.summary)
    assert np.array_equal(summary.returns, whole.returns)
    widths = np.diff(grid._blocks(lanes))
    assert (widths <= grid.SUB_BLOCK + 1).all() and ((widths == 1).sum() == 1) == (lanes % grid.LANE_BLOCK == 1)


@pytest.mark.parametrize("preset", ["plain", "a-share"])
def test_grid_summary_blocks_in_shared_buffers_equal_fresh_blocks(monkeypatch, preset: str) -> None:
    """One-thread summaries run every block in one set of buffers (`grid_summary`: touched once, not
    once a block); the summary and the daily returns equal those of fresh per-block arrays (the two-thread
    path) bit for bit, with all metrics, a subset, benchmark metrics and a remainder block of one lane."""
    import quant.grid as grid

    bars = gbm_bars(["600000.SH"], sessions=400, seed=14)
    bench = bars.select("date", (pl.col("close") * 0.5 + 10).alias("close"))
    sets = [{"fast": 2 + i % 9, "slow": 12 + i} for i in range(49)]
    config = EngineConfig(preset=preset, risk_free_rate=0.01)
    buffers = []
    original = grid.session_returns
    monkeypatch.setattr(
        grid,
        "session_returns",
        lambda equity, ends, initial, out=None: buffers.append(out) or original(equity, ends, initial, out),
    )
    for metrics in (None, ["sharpe", "calmar", "alpha"]):
        shared = run_grid("ma_cross", bars, sets, config, benchmark=bench, returns=True, metrics=metrics)
        assert buffers and all(b is not None for b in buffers)
        buffers.clear()
        with monkeypatch.context() as patch:
            patch.setattr(grid, "PARALLEL_CELLS", 0)
            fresh = run_grid("ma_cross", bars, sets, config, benchmark=bench, returns=True, metrics=metrics)
        assert buffers and all(b is None for b in buffers)
        buffers.clear()
        assert shared.summary.equals(fresh.summary) and np.array_equal(shared.returns, fresh.returns)


@pytest.mark.parametrize("entry", ["grid", "independent"])
def test_lane_runs_release_the_strategy_weights_before_the_kernel(monkeypatch, entry: str) -> None:
    """`run_grid` and `run_independent` drop the strategy's (combinations × rows) weights once the
    execution targets exist, so the kernel's and the summary's arrays reuse that memory (already faulted
    in) instead of fresh pages; the results are unchanged."""
    import weakref

    import quant.grid as grid

    seen: dict = {}
    market_and_rows, run_kernel = grid.market_and_rows, grid.run_kernel

    def spy_rows(*args, **kwargs):
        m, rows = market_and_rows(*args, **kwargs)
        seen["weights"] = weakref.ref(rows)
        return m, rows

    def spy_kernel(*args):
        seen["alive"] = seen["weights"]() is not None
        return run_kernel(*args)

    bars = gbm_bars(["600000.SH", "600001.SH"] if entry == "independent" else ["600000.SH"], sessions=300, seed=4)
    config = EngineConfig(preset="plain")
    sets = [{"fast": f, "slow": s} for f in (3, 5, 8) for s in (20, 40)]

    def run():
        if entry == "grid":
            return run_grid("ma_cross", bars, sets, config).summary
        return run_independent("ma_cross", bars, sets[0], config).summary

    before = run()
    monkeypatch.setattr(grid, "market_and_rows", spy_rows)
    monkeypatch.setattr(grid, "run_kernel", spy_kernel)
    assert run().equals(before)
    assert seen["alive"] is False
