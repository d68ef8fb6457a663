"""The pure rules of sweeps (`backtest.sweep`) and the CLI's option grammar (`backtest.cli_optimize`)."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from backtest import sweep
from backtest.cli_optimize import parse_duration_ms, parse_early_stop, parse_space, parse_validation
from backtest.schemas import Distribution, Range
from platform_core.errors import InvalidInput


def _ok(*scores: float) -> list[tuple[int, float, str]]:
    return [(i, s, "succeeded") for i, s in enumerate(scores)]


def test_patience_counts_evaluations_without_improvement_in_combination_order() -> None:
    stop = sweep.patience_stop(_ok(1, 4, 2, 3, 0.5, 9), "max", 3, "sharpe")
    assert stop is not None and stop.status == "early_stopped" and "evaluation #5" in stop.reason
    assert sweep.patience_stop(_ok(1, 4, 2, 5, 0.5, 9), "max", 3, "sharpe") is None
    assert sweep.patience_stop(_ok(5, 4, 3, 2), "min", 3, "max_drawdown") is None


def test_patience_reads_only_the_contiguous_prefix_and_counts_failures_as_no_improvement() -> None:
    gap = [(0, 1.0, "succeeded"), (1, 0.5, "succeeded"), (3, 0.1, "succeeded"), (4, 0.1, "succeeded")]
    assert sweep.patience_stop(gap, "max", 2, "sharpe") is None  # #3 is missing: only 0..1 are judged
    failed = [(0, 1.0, "succeeded"), (1, None, "failed"), (2, None, "failed")]
    assert sweep.patience_stop(failed, "max", 2, "sharpe") is not None


def test_decide_finishes_stops_on_budget_or_goes_on() -> None:
    args = {"direction": "max", "early_stop": None, "metric": "sharpe"}
    assert sweep.decide(scores=_ok(1, 2), total=2, budget_ms=None, wall_ms=5, **args).status == "succeeded"
    budget = sweep.decide(scores=_ok(1), total=2, budget_ms=1000, wall_ms=1500, **args)
    assert budget.status == "early_stopped" and "budget" in budget.reason
    assert sweep.decide(scores=_ok(1), total=2, budget_ms=1000, wall_ms=10, **args) is None


def test_best_of_prefers_the_earlier_of_equal_scores_and_ignores_failures() -> None:
    scores = [(0, 1.0, "succeeded"), (1, 3.0, "succeeded"), (2, 3.0, "succeeded"), (3, 9.0, "failed")]
    assert sweep.best_of(scores, "max") == (1, 3.0)
    assert sweep.best_of(scores, "min") == (0, 1.0)


def test_heatmap_takes_the_best_over_other_parameters_and_leaves_missing_cells_null() -> None:
    rows = [
        ({"fast": 5, "slow": 20, "k": 1}, {"sharpe": 0.5}),
        ({"fast": 5, "slow": 20, "k": 2}, {"sharpe": 0.9}),
        ({"fast": 10, "slow": 30, "k": 1}, {"sharpe": -0.2}),
    ]
    xs, ys, z = sweep.heatmap(rows, "fast", "slow", "sharpe", "max", {"fast": [5, 10, 40]})
    assert (xs, ys) == ([5, 10, 40], [20, 30])
    assert z == [[0.9, None, None], [None, -0.2, None]]


def test_axis_ranges_are_inclusive_and_random_points_repeat_with_the_seed() -> None:
    assert sweep.axis_values("fast", Range(start=5, stop=20, step=5)) == [5, 10, 15, 20]
    assert sweep.axis_values("x", {"start": 0.1, "stop": 0.3, "step": 0.1}) == [0.1, 0.2, 0.3]
    space = {
        "n": Distribution(type="int", low=2, high=10, step=2),
        "x": Distribution(type="log_uniform", low=0.01, high=1.0),
        "c": Distribution(type="choices", values=["a", "b"]),
    }
    first, again = sweep.random_points(space, 50, 3), sweep.random_points(space, 50, 3)
    assert first == again and first != sweep.random_points(space, 50, 4)
    assert all(p["n"] in (2, 4, 6, 8, 10) and 0.01 <= p["x"] <= 1.0 and p["c"] in ("a", "b") for p in first)


def test_batch_size_keeps_the_workers_busy_within_the_caps() -> None:
    assert sweep.batch_size(400, 2, True, None) == 200
    assert sweep.batch_size(10_000, 2, True, None) == sweep.TEMPLATE_BATCH
    assert sweep.batch_size(400, 2, False, None) == sweep.USER_BATCH
    assert sweep.batch_size(400, 2, True, 7) == 7


def test_filters_parse_and_apply() -> None:
    filters = [sweep.parse_filter("sharpe:gt:1"), sweep.parse_filter("trade_count:le:3")]
    assert sweep.passes({"sharpe": 1.5, "trade_count": 3}, filters)
    assert not sweep.passes({"sharpe": 0.5, "trade_count": 3}, filters)
    assert not sweep.passes({"trade_count": 3}, filters)
    with pytest.raises(InvalidInput):
        sweep.parse_filter("sharpe>1")


def test_the_cli_grammar_of_budgets_early_stops_and_spaces() -> None:
    assert [parse_duration_ms(t) for t in ("10m", "90s", "500ms", "2h", "1500")] == [
        600_000,
        90_000,
        500,
        7_200_000,
        1500,
    ]
    assert parse_early_stop("sharpe:max:50") == {"metric": "sharpe", "mode": "max", "patience": 50}
    assert parse_space(["fast=int:5:50:5", "w=uniform:0.1:0.9", "c=choices:a,b"]) == {
        "fast": {"type": "int", "low": 5.0, "high": 50.0, "step": 5},
        "w": {"type": "uniform", "low": 0.1, "high": 0.9},
        "c": {"type": "choices", "values": ["a", "b"]},
    }
    for bad in (lambda: parse_duration_ms("soon"), lambda: parse_early_stop("sharpe:up:5")):
        with pytest.raises(InvalidInput):
            bad()


# --- walk-forward window arithmetic -------------------------------------------------------------------


def test_durations_parse_and_bad_ones_name_the_field() -> None:
    assert sweep.parse_duration("6m", "f") == (6, "m")
    assert sweep.parse_duration("2Y", "f") == (2, "y")
    for bad in ("6", "m", "0m", "6q", "-1d", "1.5y"):
        with pytest.raises(InvalidInput) as caught:
            sweep.parse_duration(bad, "validation.walk_forward.test")
        assert caught.value.details["field"] == "validation.walk_forward.test"


def test_shift_clamps_month_ends_and_counts_years_and_weeks() -> None:
    assert sweep.shift(date(2023, 8, 31), 6, "m") == date(2024, 2, 29)
    assert sweep.shift(date(2023, 3, 1), 2, "y") == date(2025, 3, 1)
    assert sweep.shift(date(2023, 12, 1), 3, "m") == date(2024, 3, 1)
    assert sweep.shift(date(2023, 3, 1), 2, "w") == date(2023, 3, 15)
    assert sweep.shift(date(2023, 3, 1), 10, "d") == date(2023, 3, 11)


def test_walk_forward_folds_roll_by_step_and_keep_only_whole_test_windows() -> None:
    folds = sweep.walk_forward_folds(date(2023, 3, 1), date(2024, 6, 28), "6m", "3m", "3m")
    assert [f.as_json() for f in folds] == [
        {"train_start": "2023-03-01", "train_end": "2023-08-31", "test_start": "2023-09-01", "test_end": "2023-11-30"},
        {"train_start": "2023-06-01", "train_end": "2023-11-30", "test_start": "2023-12-01", "test_end": "2024-02-29"},
        {"train_start": "2023-09-01", "train_end": "2024-02-29", "test_start": "2024-03-01", "test_end": "2024-05-31"},
    ]
    # a test window ending exactly on the window's last day is kept; step defaults to test
    [only] = sweep.walk_forward_folds(date(2023, 1, 1), date(2023, 12, 31), "6m", "6m", None)
    assert (only.test_start, only.test_end) == (date(2023, 7, 1), date(2023, 12, 31))


def test_walk_forward_refuses_windows_that_do_not_fit_and_overlapping_tests() -> None:
    with pytest.raises(InvalidInput) as caught:
        sweep.walk_forward_folds(date(2023, 3, 1), date(2024, 6, 28), "2y", "6m", "6m")
    assert caught.value.details["field"] == "validation.walk_forward.train"
    with pytest.raises(InvalidInput) as caught:
        sweep.walk_forward_folds(date(2023, 3, 1), date(2024, 6, 28), "6m", "3m", "1m")
    assert caught.value.details["field"] == "validation.walk_forward.step"


def test_split_fold_and_its_bounds() -> None:
    fold = sweep.split_fold(date(2023, 3, 1), date(2024, 6, 28), date(2024, 1, 1))
    assert fold.as_json() == {
        "train_start": "2023-03-01",
        "train_end": "2023-12-31",
        "test_start": "2024-01-01",
        "test_end": "2024-06-28",
    }
    for bad in (date(2023, 3, 1), date(2024, 6, 29), date(2020, 1, 1)):
        with pytest.raises(InvalidInput) as caught:
            sweep.split_fold(date(2023, 3, 1), date(2024, 6, 28), bad)
        assert caught.value.details["field"] == "validation.split"


def test_stitch_compounds_the_test_windows_in_order() -> None:
    curve = sweep.stitch([np.array([0.1, -0.5]), np.array([1.0])], 100.0)
    assert curve.tolist() == pytest.approx([110.0, 55.0, 110.0])
    assert sweep.stitch([], 100.0).size == 0


def test_cli_validation_options_make_the_validation_block() -> None:
    assert parse_validation("2y:6m:6m", None) == {"walk_forward": {"train": "2y", "test": "6m", "step": "6m"}}
    assert parse_validation("2y:6m", None) == {"walk_forward": {"train": "2y", "test": "6m", "step": None}}
    assert parse_validation(None, "2024-01-01") == {"split": "2024-01-01"}
    assert parse_validation(None, None) is None
    for args, field in ((("2y", None), "validation.walk_forward"), (("2y:6m", "2024-01-01"), "validation")):
        with pytest.raises(InvalidInput) as caught:
            parse_validation(*args)
        assert caught.value.details["field"] == field


def test_sweep_events_follow_changes_and_end_on_a_terminal_status() -> None:
    start = {"status": "queued", "evaluated": 0, "failed": 0, "best": None}
    assert sweep.sweep_events(None, start) == ["snapshot"]
    assert sweep.sweep_events(start, dict(start)) == []
    running = {**start, "status": "running"}
    assert sweep.sweep_events(start, running) == ["status"]
    more = {**running, "evaluated": 2, "best": {"index": 1}}
    assert sweep.sweep_events(running, more) == ["progress"]
    done = {**more, "evaluated": 6, "status": "succeeded"}
    assert sweep.sweep_events(more, done) == ["progress", "succeeded"]
    assert sweep.sweep_events(None, done) == ["succeeded"]
