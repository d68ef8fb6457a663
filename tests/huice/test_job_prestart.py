"""The warm confined child of a job's work-horse (issue 20): a job with user code starts it before loading
its data (`backtest.gateways.warm_runner`), so the child's start and imports overlap the load; a template
job starts none (it runs in process: a spare would only take a core from the run); a one-job work-horse
does not replace a taken spare (`huice.contexts.one_job_spares`). With the zygote on (the default) the warm-up
starts this process's zygote instead; the spare tests turn it off (the spare is its fallback)."""

from __future__ import annotations

import time
from types import SimpleNamespace

import pytest

from backtest.gateways import warm_runner
from huice.contexts import one_job_spares
from quant.templates import get_template
from strategy_management.config import StrategySettings, build_env
from strategy_management.confined_runner import (
    PROBE_SOURCE,
    RunnerConfig,
    configure_spares,
    configure_zygote,
    execute,
    spare_pid,
    wait_for_spare,
    zygote_pid,
)


@pytest.fixture
def spares():
    configure_zygote(enabled=False)
    configure_spares(enabled=False)  # none left over from another test
    configure_spares(enabled=True)
    yield
    configure_spares(enabled=False)
    configure_spares(enabled=True, replenish=True)
    configure_zygote(enabled=True)


@pytest.fixture
def no_zygote_yet():
    configure_spares(enabled=False)
    configure_zygote(enabled=False)  # none left over from another test
    configure_zygote(enabled=True)
    yield
    configure_spares(enabled=True, replenish=True)


def test_a_job_with_user_code_starts_the_zygote_before_it_loads_data(no_zygote_yet) -> None:
    warm_runner(_env(), PROBE_SOURCE)
    assert isinstance(zygote_pid(60), int)  # started by the warm-up (waiting for it does not start one)
    assert spare_pid() is None


def test_a_template_job_starts_no_zygote(no_zygote_yet) -> None:
    warm_runner(_env(), get_template("ma_cross").source)
    time.sleep(0.5)
    assert zygote_pid() is None


def _env() -> SimpleNamespace:
    return SimpleNamespace(strategies=build_env(StrategySettings(), None))


def test_a_job_with_user_code_starts_its_spare_before_it_loads_data(spares) -> None:
    warm_runner(_env(), PROBE_SOURCE)
    assert isinstance(wait_for_spare(60), int)  # without the warm-up there is no spare to wait for


def test_a_template_job_starts_no_spare(spares) -> None:
    warm_runner(_env(), get_template("ma_cross").source)
    assert spare_pid() is None and wait_for_spare(2) is None


def test_a_one_job_work_horse_does_not_replace_its_spare(spares) -> None:
    def handler(ctx: object) -> str:
        warm_runner(_env(), PROBE_SOURCE)
        assert isinstance(wait_for_spare(60), int)
        execute("describe", PROBE_SOURCE, RunnerConfig(cpu_seconds=20, wall_seconds=60))  # the job's one call
        return f"done {ctx}"

    assert one_job_spares(handler)("the job") == "done the job"
    assert wait_for_spare(5) is None  # no second spare started for nothing
