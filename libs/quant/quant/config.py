"""Engine configuration: presets, fill modes, costs and constraints."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field

from quant.config_light import EXIT_FIELDS, ConfigViews, Rules

__all__ = ["EXIT_FIELDS", "EngineConfig", "FillMode", "Preset", "Rules"]

Preset = Literal["a-share", "plain"]
FillMode = Literal["next_open", "next_close", "same_close"]


class EngineConfig(ConfigViews, BaseModel):
    """How a backtest is simulated. `a-share` applies the dated rulebook (lots, T+1, price limits,
    fees); `plain` applies none of them (no fees unless `commission_rate` is given) so that results
    can be checked against generic engines."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    preset: Preset = "a-share"
    fill: FillMode = "next_open"
    initial_cash: float = Field(1_000_000.0, gt=0)
    shares: Literal["integer", "fractional"] = "integer"
    commission_rate: float | None = Field(None, ge=0, le=0.003)
    min_commission: float = Field(5.0, ge=0)
    stamp_duty_schedule: list[tuple[dt.date, float, Literal["both", "sell"]]] | None = None
    transfer_fee_schedule: list[tuple[dt.date, float]] | None = None
    slippage_bps: float = Field(0.0, ge=0, le=1000)
    limit_policy: Literal["locked", "touch"] = "touch"
    volume_cap: float | None = Field(None, gt=0, le=1)
    risk_free_rate: float = 0.0
    periods_per_year: int = Field(252, gt=0)
    benchmark_symbol: str | None = None
    price_basis: Literal["raw", "adjusted"] | None = None
    stop_loss: float | None = Field(
        None, gt=0, lt=1, description="Exit when a bar's low is this fraction below the entry."
    )
    take_profit: float | None = Field(
        None, gt=0, le=10, description="Exit when a bar's high is this fraction above the entry."
    )
    trailing_stop: float | None = Field(
        None, gt=0, lt=1, description="Exit when a bar's low is this fraction below the highest high since entry."
    )
