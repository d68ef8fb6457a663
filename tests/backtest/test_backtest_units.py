"""Units of the backtest-runs context: pure rules (domain), the local artifact store, key expiry."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from backtest import domain, service
from backtest.artifacts import LocalArtifactStore, artifact_key
from backtest.config import env_of
from backtest.schemas import BacktestCreate, RunCreate
from huice.bootstrap import Container
from platform_core.cli import parse_model
from platform_core.errors import InvalidInput, NotFound
from platform_core.ids import set_clock
from tests.backtest import support


@pytest.mark.parametrize(
    ("priority", "queue"),
    [
        (None, "default"),
        ("high", "high"),
        ("low", "low"),
        (9, "high"),
        (7, "high"),
        (6, "default"),
        (4, "default"),
        (3, "low"),
        (1, "low"),
    ],
)
def test_priority_maps_to_a_queue(priority: str | int | None, queue: str) -> None:
    assert domain.queue_of(priority) == queue


def test_budget_rounds_milliseconds_up_to_seconds() -> None:
    assert [domain.budget_seconds(ms, 900) for ms in (None, 1000, 1001, 600_000)] == [900, 1, 2, 600]


def test_request_hash_ignores_key_order_but_not_values() -> None:
    a = domain.request_hash("POST /x", {"a": 1, "b": [1, 2]})
    assert a == domain.request_hash("POST /x", {"b": [1, 2], "a": 1})
    assert a != domain.request_hash("POST /x", {"a": 2, "b": [1, 2]})
    assert a != domain.request_hash("POST /y", {"a": 1, "b": [1, 2]})


def _frame() -> pl.DataFrame:
    return pl.DataFrame(
        {
            "date": [date(2024, 1, 2), date(2024, 1, 3)],
            "symbol": ["600010.SH", "000010.SZ"],
            "price": [10.5, None],
            "reason": [None, "limit_up"],
        }
    )


def test_artifacts_convert_to_csv_json_and_parquet() -> None:
    parquet = domain.parquet_bytes(_frame())
    assert parquet == domain.parquet_bytes(_frame())
    assert domain.convert(parquet, "parquet") == parquet
    assert domain.convert(parquet, "csv") == (
        b"\xef\xbb\xbfdate,symbol,price,reason\n2024-01-02,600010.SH,10.5,\n2024-01-03,000010.SZ,,limit_up\n"
    )
    assert json.loads(domain.convert(parquet, "json")) == [
        {"date": "2024-01-02", "symbol": "600010.SH", "price": 10.5, "reason": None},
        {"date": "2024-01-03", "symbol": "000010.SZ", "price": None, "reason": "limit_up"},
    ]


def test_logs_frame_numbers_lines_without_times() -> None:
    frame = domain.logs_frame([("data", "info", "loaded"), ("engine", "warning", "2 orders rejected: limit_up")])
    assert frame.to_dicts() == [
        {"seq": 1, "stage": "data", "level": "info", "message": "loaded"},
        {"seq": 2, "stage": "engine", "level": "warning", "message": "2 orders rejected: limit_up"},
    ]


def test_clean_json_turns_non_finite_numbers_into_null() -> None:
    assert domain.clean_json({"a": float("nan"), "b": [float("inf"), 1.5], "c": "x"}) == {
        "a": None,
        "b": [None, 1.5],
        "c": "x",
    }


def test_local_store_writes_atomically_and_reads_back(tmp_path: Path) -> None:
    store = LocalArtifactStore(tmp_path / "artifacts")
    owner, run = uuid.uuid4(), uuid.uuid4()
    key = artifact_key(owner, run, "equity")
    stored = store.put(key, b"first")
    assert (stored.key, stored.bytes) == (f"{owner}/{run}/equity.parquet", 5)
    store.put(key, b"second")
    assert store.get(key) == b"second"
    assert sorted(p.name for p in (tmp_path / "artifacts" / str(owner) / str(run)).iterdir()) == ["equity.parquet"]
    with pytest.raises(NotFound):
        store.get(artifact_key(owner, run, "trades"))
    with pytest.raises(NotFound):
        store.get("../outside.parquet")


def test_cli_models_name_the_bad_field() -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_model(RunCreate, {"mode": "annealing"})
    assert caught.value.details["field"] == "mode"
    with pytest.raises(InvalidInput) as caught:
        parse_model(
            BacktestCreate,
            {
                "strategy_ref": {"template": "ma_cross", "strategy_id": str(uuid.uuid4())},
                "context": {"universe": ["600010.SH"], "window": support.WINDOW},
            },
        )
    assert caught.value.details["field"] == "strategy_ref"


def test_an_idempotency_key_is_forgotten_after_24_hours(bt: Container, user: support.User) -> None:
    body = parse_model(BacktestCreate, support.backtest_body())
    with bt.db.transaction() as session:
        first = service.create_backtest(session, env_of(bt), user.principal, body, idempotency_key="day-key")
    later = datetime.now(UTC) + timedelta(hours=25)
    set_clock(lambda: later)
    try:
        with bt.db.transaction() as session:
            second = service.create_backtest(session, env_of(bt), user.principal, body, idempotency_key="day-key")
            again = service.create_backtest(session, env_of(bt), user.principal, body, idempotency_key="day-key")
    finally:
        set_clock(None)
    assert first.backtest_id != second.backtest_id
    assert again.backtest_id == second.backtest_id


def test_csv_and_json_round_cny_amounts_to_the_fen_and_parquet_keeps_them() -> None:
    frame = pl.DataFrame({"symbol": ["600010.SH"], "pnl": [-17804.600000000006], "price": [10.123456]})
    parquet = domain.parquet_bytes(frame)
    assert domain.convert(parquet, "csv") == b"\xef\xbb\xbfsymbol,pnl,price\n600010.SH,-17804.6,10.123456\n"
    assert json.loads(domain.convert(parquet, "json")) == [{"symbol": "600010.SH", "pnl": -17804.6, "price": 10.123456}]
    assert pl.read_parquet(io.BytesIO(domain.convert(parquet, "parquet")))["pnl"][0] == -17804.600000000006


def test_stored_csv_reads_back_with_polars() -> None:
    csv = domain.convert(domain.parquet_bytes(_frame()), "csv")
    assert pl.read_csv(io.BytesIO(csv))["symbol"].to_list() == ["600010.SH", "000010.SZ"]


def test_a_verbatim_template_runs_in_process_exactly_as_the_confined_runner(bt: Container, monkeypatch) -> None:
    """A version whose source is byte for byte a built-in template skips the sandbox start: same targets,
    same error for bad parameters. Any edit makes it user code again, which only runs confined."""
    from backtest import gateways
    from quant import normalize_bars
    from quant.synthetic import sample_universe
    from quant.templates import get_template
    from strategy_management import service as strategies

    bars = normalize_bars(sample_universe(sessions=300))
    source, params, bad = get_template("ma_cross").source, {"fast": 5, "slow": 20}, {"fast": 30, "slow": 20}
    [confined] = strategies.run_targets(env_of(bt).strategies, source, bars, [params], timeout_s=30)
    with pytest.raises(strategies.StrategyRuntimeError) as confined_error:
        strategies.run_targets(env_of(bt).strategies, source, bars, [bad], timeout_s=30)

    calls: list[str] = []
    real = strategies.run_targets_logged
    monkeypatch.setattr(
        strategies, "run_targets_logged", lambda env, src, *a, **k: calls.append(src) or real(env, src, *a, **k)
    )
    targets, output = gateways.run_targets(env_of(bt), source, bars, params, 30)
    assert targets.equals(confined) and output == []
    with pytest.raises(strategies.StrategyRuntimeError) as local_error:
        gateways.run_targets(env_of(bt), source, bars, bad, 30)
    assert calls == []
    assert (
        local_error.value.message
        == confined_error.value.message
        == ("the strategy raised an error: fast: must be smaller than slow")
    )
    assert local_error.value.details["field"] == confined_error.value.details["field"] == "fast"

    edited = source + "\n# my own copy\n"
    assert gateways.run_targets(env_of(bt), edited, bars, params, 30)[0].equals(confined)
    assert calls == [edited]


def test_exports_write_whole_share_counts_as_integers_and_keep_fractions() -> None:
    frame = pl.DataFrame({"symbol": ["a", "b"], "qty": [51300.0, 200.0], "target_qty": [51320.8, 199.5]})
    shown = domain.presentable(frame)
    assert shown.schema["qty"] == pl.Int64 and shown.schema["target_qty"] == pl.Float64
    assert domain.convert(domain.parquet_bytes(frame), "csv") == (
        b"\xef\xbb\xbfsymbol,qty,target_qty\na,51300,51320.8\nb,200,199.5\n"
    )


def test_daily_next_open_fills_lose_the_15_00_label_in_exports_only() -> None:
    fills = pl.DataFrame(
        {
            "ts": [datetime(2024, 1, 2, 15, 0)],
            "date": [date(2024, 1, 2)],
            "symbol": ["600010.SH"],
            "side": ["buy"],
            "qty": [100.0],
        }
    )
    parquet = domain.parquet_bytes(fills)
    assert json.loads(domain.convert(parquet, "json", daily_open_fills=True)) == [
        {"date": "2024-01-02", "symbol": "600010.SH", "side": "buy", "qty": 100}
    ]
    assert "ts" in json.loads(domain.convert(parquet, "json"))[0]  # intraday or close fills keep their bar's label
    assert domain.convert(parquet, "parquet", daily_open_fills=True) == parquet  # the stored, hashed bytes


def test_chinese_headers_come_from_one_mapping_and_metrics_rows_too() -> None:
    import openpyxl

    trades = pl.DataFrame({"date": [date(2024, 1, 2)], "symbol": ["600010.SH"], "commission": [5.0]})
    assert domain.convert(domain.parquet_bytes(trades), "csv", headers="zh").decode("utf-8-sig").splitlines()[0] == (
        "日期,代码,佣金"
    )
    metrics = domain.metrics_frame({"sharpe": 1.2, "total_return": 0.1, "yearly_returns": {"2024": {}}, "x": True})
    assert metrics.to_dicts() == [{"metric": "total_return", "figure": 0.1}, {"metric": "sharpe", "figure": 1.2}]
    sheet = openpyxl.load_workbook(io.BytesIO(domain.convert(metrics, "xlsx", headers="zh"))).active
    assert list(sheet.iter_rows(values_only=True)) == [("指标", "数值"), ("总收益率", 0.1), ("夏普比率", 1.2)]
