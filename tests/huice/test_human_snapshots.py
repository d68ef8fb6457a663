"""The main commands in human mode on a 100-column terminal, compared with stored snapshots
(`tests/snapshots.py` says how ids and timestamps are masked and how to update them).

The state is the demo account seeded on its own database from the committed sample slice (three strategies
from templates, a run of each, a 10-combination sweep): the same figures every time."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from rich.cells import cell_len
from typer.testing import CliRunner

from huice import demo
from huice.bootstrap import Servers
from tests.backtest import support
from tests.snapshots import assert_snapshot

WIDTH = 100


@pytest.fixture(scope="module")
def seeded(test_servers: Servers, data_dir: Path, migrated: str, tmp_path_factory) -> Iterator[dict[str, Any]]:
    from huice.cli import app

    with support.committed_container(test_servers, data_dir / "snapshots", "huice_snap", sample=True) as (c, _):
        env = {**support.worker_env(c), "COLUMNS": str(WIDTH), "HUICE_CONFIG_DIR": str(tmp_path_factory.mktemp("cfg"))}
        args = ["demo", "seed", "--symbols", ",".join(support.SYMBOLS), "--start", "2023-03-01", "--end", "2024-06-28"]
        seed = CliRunner().invoke(app, [*args, "--json"], env=env)
        assert seed.exit_code == 0, (seed.stdout, seed.stderr)
        login = ["auth", "login", "--email", demo.DEMO_EMAIL, "--password", demo.DEMO_PASSWORD, "--json"]
        assert CliRunner().invoke(app, login, env=env).exit_code == 0
        yield {"container": c, "env": env, "seed": json.loads(seed.stdout)}


def _human(seeded: dict[str, Any], *args: str) -> str:
    from huice.cli import app

    result = CliRunner().invoke(app, list(args), env=seeded["env"])
    assert result.exit_code in (0, 1), (result.stdout, result.stderr)
    assert result.stderr == ""
    return result.stdout


def _first(seeded: dict[str, Any], key: str) -> str:
    return seeded["seed"]["strategies"][0][key]


def test_strategy_list_and_show(seeded) -> None:
    assert_snapshot("strategy_list", _human(seeded, "strategy", "list"))
    assert_snapshot("strategy_show", _human(seeded, "strategy", "show", _first(seeded, "strategy_id")))


def test_backtest_list_fits_100_columns_and_show(seeded) -> None:
    listing = _human(seeded, "backtest", "list")
    assert max(cell_len(line) for line in listing.splitlines()) <= WIDTH
    assert all(s["backtest_id"] in listing for s in seeded["seed"]["strategies"])  # whole ids, never cut
    assert_snapshot("backtest_list", listing)
    assert_snapshot("backtest_list_runs", _human(seeded, "backtest", "list", "--runs", "--sort", "-stats.sharpe"))


def test_run_show_with_its_metrics(seeded) -> None:
    shown = _human(seeded, "backtest", "status", _first(seeded, "run_id"))
    assert "total_return" in shown and "%" in shown and "CNY" in shown
    assert_snapshot("run_status", shown, extra=(r"(?<=queue_wait_s │ )[\d.]+ *",))


def test_optimization_results(seeded) -> None:
    opt = seeded["seed"]["sweep"]["optimization_id"]
    assert_snapshot("optimization_results", _human(seeded, "backtest", "optimization", "results", opt))


def test_auth_usage(seeded) -> None:
    usage = _human(seeded, "auth", "usage")
    month = (r"(?<=period from )\d{4}-\d{2}-\d{2}",)
    stored = (r"(?<=artifact_bytes    │ )\d+ *", r"(?<=│ 1073741824 │ )\d+ *")  # the run logs' bytes vary
    assert_snapshot("auth_usage", usage, extra=(*month, *stored))


def test_doctor_checklist(seeded, redis) -> None:
    checklist = _human(seeded, "doctor")
    assert_snapshot(
        "doctor",
        checklist,
        extra=(
            (r"\d+(\.\d+)? ms", "<n> ms"),  # latencies
            (r"(?<=sandbox {9}).*", "<this kernel's layers>"),  # checked by tests/huice/test_root_cli.py
            (r"\d+ sessions behind", "<n> sessions behind"),  # depends on today
            (r"\(\d+ branches\)", "(<n> branches)"),
        ),
    )
