"""The dated rulebook of the quant core: limit bands by board, ST status and date; sessions without a band."""

from __future__ import annotations

from datetime import date

import numpy as np
import pytest

from quant.contract import infer_board
from quant.rulebook import limit_pct, no_limit_sessions, unbanded_sessions


@pytest.mark.parametrize(
    ("board", "st", "day", "pct"),
    [
        ("main", False, date(2024, 1, 2), 0.10),
        ("main", True, date(2024, 1, 2), 0.05),
        ("main", True, date(2026, 7, 6), 0.10),
        ("chinext", False, date(2020, 8, 21), 0.10),
        ("chinext", True, date(2020, 8, 21), 0.05),
        ("chinext", True, date(2020, 8, 24), 0.20),
        ("star", True, date(2021, 1, 4), 0.20),
        ("bse", False, date(2022, 1, 4), 0.30),
    ],
)
def test_limit_bands(board: str, st: bool, day: date, pct: float) -> None:
    assert limit_pct(board, np.array([st]), np.array([day], dtype="datetime64[D]"))[0] == pct


def test_sessions_without_a_band_after_listing() -> None:
    assert unbanded_sessions("star", date(2019, 7, 22)) == 5
    assert unbanded_sessions("chinext", date(2020, 8, 24)) == 5
    assert unbanded_sessions("chinext", date(2019, 1, 2)) == 0
    assert unbanded_sessions("main", date(2023, 4, 10)) == 5
    assert unbanded_sessions("main", date(2016, 3, 15)) == 0  # its first day has the ±44%/−36% IPO band
    assert unbanded_sessions("bse", date(2022, 5, 10)) == 1


def test_the_simulator_also_trades_an_old_regime_first_day_without_a_limit() -> None:
    assert no_limit_sessions("main", date(2016, 3, 15)) == 1  # the IPO-price band is not in the bars
    assert no_limit_sessions("chinext", date(2019, 1, 2)) == 1
    assert no_limit_sessions("star", date(2019, 7, 22)) == 5
    assert no_limit_sessions("main", None) == 0


def test_one_board_rule_for_every_code_form() -> None:
    codes = ("688001.SH", "300750.SZ", "430047.BJ", "830799.BJ", "920001.BJ", "000001.SZ", "600000.SH")
    assert [infer_board(c) for c in codes] == ["star", "chinext", "bse", "bse", "bse", "main", "main"]
