"""Same inputs → identical outputs, bit for bit, and a manifest that states how they were made."""

from __future__ import annotations

import hashlib
import json

from quant import ENGINE_VERSION, RULEBOOK_VERSION, EngineConfig, run_backtest, write_artifacts


def _digest(directory) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(directory.iterdir())}


def test_two_runs_write_identical_artifacts(sample_bars, tmp_path) -> None:
    config = EngineConfig(preset="a-share", volume_cap=0.1)
    first = run_backtest("ma_cross", sample_bars, {"fast": 5, "slow": 20}, config)
    second = run_backtest("ma_cross", sample_bars, {"fast": 5, "slow": 20}, config)
    write_artifacts(first, tmp_path / "a")
    write_artifacts(second, tmp_path / "b")
    assert _digest(tmp_path / "a") == _digest(tmp_path / "b")
    assert first.equity.equals(second.equity) and first.orders.equals(second.orders)


def test_manifest_states_versions_hashes_and_config(sample_bars) -> None:
    result = run_backtest("ma_cross", sample_bars, {"fast": 5}, EngineConfig(fill="same_close"))
    manifest = result.manifest
    assert manifest["engine_version"] == ENGINE_VERSION
    assert manifest["rulebook_version"] == RULEBOOK_VERSION
    assert manifest["strategy_hash"].startswith("sha256:")
    assert manifest["params"] == {"fast": 5, "slow": 30}
    assert manifest["optimistic"] is True
    assert manifest["data_hash"].startswith("sha256:")
    json.dumps(manifest)
    json.dumps(result.metrics, allow_nan=False)


def test_data_hash_changes_with_the_data(sample_bars) -> None:
    a = run_backtest("ma_cross", sample_bars, {}, EngineConfig()).manifest["data_hash"]
    changed = sample_bars.with_columns(sample_bars["close"] * 1.0001)
    b = run_backtest("ma_cross", changed, {}, EngineConfig()).manifest["data_hash"]
    assert a != b
