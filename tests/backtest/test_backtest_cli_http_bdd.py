"""BDD over HTTP: the CLI scenarios of `cli.feature` and `cli_errors.feature` again, with the CLI talking to a
real `huice serve` (uvicorn, its own process) through `HUICE_API_URL` — the same commands, the same
expected output and exit codes as in-process (`test_backtest_runs_bdd.py`, `test_backtest_service_bdd.py`).
The run itself is executed by the real workers of the `workers` fixture; the CLI opens no database."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from pytest_bdd import scenarios

from huice.bootstrap import Container
from tests.api_server import api_server
from tests.backtest import test_backtest_runs_bdd as _runs
from tests.backtest import test_backtest_service_bdd as _service

pytestmark = [pytest.mark.e2e]

# the step definitions of the in-process modules (pytest-bdd keeps them as module fixtures)
globals().update({k: v for m in (_runs, _service) for k, v in vars(m).items() if k.startswith("pytestbdd_")})

scenarios("backtest/features/cli.feature", "backtest/features/cli_errors.feature")


@pytest.fixture(scope="module")
def _server(bt: Container) -> Iterator[str]:
    """The API on the workers' database, Redis and artifact store (the data dir)."""
    data_dir: Path = bt.settings.resolved_data_dir
    with api_server(bt.servers.database_url, bt.servers.redis_url, data_dir, workers=0) as url:
        yield url


@pytest.fixture
def cli_api_url(_server: str) -> str:
    return _server


def test_every_cli_scenario_also_runs_over_http() -> None:
    """Each scenario of the two CLI features is bound here too (so none runs in-process only)."""
    root = Path(__file__).resolve().parents[1]
    titles = [
        line.split(":", 1)[1].strip()
        for name in ("cli.feature", "cli_errors.feature")
        for line in (root / "backtest" / "features" / name).read_text(encoding="utf-8").splitlines()
        if line.strip().startswith("Scenario")
    ]
    bound = [
        name for name in globals() if name.startswith("test_") and name != "test_every_cli_scenario_also_runs_over_http"
    ]
    assert len(bound) == len(titles) >= 2
