"""The engine configuration without pydantic: what the confined runner's child simulates an event-driven
strategy with (`quant.strategy.compute_targets_grid` given a config dump).

`quant.config.EngineConfig` validates a configuration where it enters the platform (API, CLI, worker);
importing pydantic and building its models costs the sandbox child 100–200 ms, more than the whole event
run of one symbol. The child receives the platform's already validated `EngineConfig.model_dump(mode="json")`,
so it rebuilds the same values in `LightConfig` (a frozen dataclass with the same fields, defaults, `exits`,
`optimistic` and `rules()`), refusing a key `EngineConfig` does not have. `Rules` and `rules_of` are the one
definition both classes use."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, fields
from typing import Any

EXIT_FIELDS = ("stop_loss", "take_profit", "trailing_stop")


@dataclass(frozen=True)
class Rules:
    """Resolved simulator switches (derived from `EngineConfig.rules()`)."""

    lots: bool
    t1: bool
    limits: bool
    exchange_fees: bool
    fractional: bool
    commission_rate: float
    min_commission: float
    slippage: float
    price_basis: str


class ConfigViews:
    """What `EngineConfig` and `LightConfig` both derive from their fields (one definition for both)."""

    @property
    def exits(self) -> dict[str, float]:
        """The engine-level exit rules that are set (`quant.stops`); empty = none."""
        return {k: v for k in EXIT_FIELDS if (v := getattr(self, k)) is not None}

    @property
    def optimistic(self) -> bool:
        """Same-bar close fills use the close that produced the decision: flagged optimistic."""
        return getattr(self, "fill") == "same_close"  # noqa: B009 - a field of the class mixed into

    def rules(self) -> Rules:
        """The switches the simulator applies for this preset."""
        return rules_of(self)


def rules_of(config: Any) -> Rules:
    """The switches the simulator applies for `config`'s preset (an `EngineConfig` or a `LightConfig`)."""
    a_share = config.preset == "a-share"
    rate = config.commission_rate if config.commission_rate is not None else (0.00025 if a_share else 0.0)
    return Rules(
        lots=a_share,
        t1=a_share,
        limits=a_share,
        exchange_fees=a_share,
        fractional=(not a_share) and config.shares == "fractional",
        commission_rate=rate,
        min_commission=config.min_commission if a_share else 0.0,
        slippage=config.slippage_bps / 10_000.0,
        price_basis=config.price_basis or ("raw" if a_share else "adjusted"),
    )


@dataclass(frozen=True)
class LightConfig(ConfigViews):
    """`EngineConfig`'s values without its validation (they were validated where the dump was made)."""

    preset: str = "a-share"
    fill: str = "next_open"
    initial_cash: float = 1_000_000.0
    shares: str = "integer"
    commission_rate: float | None = None
    min_commission: float = 5.0
    stamp_duty_schedule: list[tuple[dt.date, float, str]] | None = None
    transfer_fee_schedule: list[tuple[dt.date, float]] | None = None
    slippage_bps: float = 0.0
    limit_policy: str = "touch"
    volume_cap: float | None = None
    risk_free_rate: float = 0.0
    periods_per_year: int = 252
    benchmark_symbol: str | None = None
    price_basis: str | None = None
    stop_loss: float | None = None
    take_profit: float | None = None
    trailing_stop: float | None = None

    @classmethod
    def from_dump(cls, dump: dict[str, Any]) -> LightConfig:
        """The config of an `EngineConfig.model_dump()` (JSON mode or not): schedule dates parsed, numbers
        as floats; a key `EngineConfig` has not is refused (`ValueError`)."""
        names = {f.name for f in fields(cls)}
        unknown = sorted(set(dump) - names)
        if unknown:
            raise ValueError(f"unknown engine configuration keys {unknown}")
        values = dict(dump)
        for key in ("stamp_duty_schedule", "transfer_fee_schedule"):
            if values.get(key) is not None:
                values[key] = [(_date(row[0]), float(row[1]), *row[2:]) for row in values[key]]
        for key in ("initial_cash", "min_commission", "slippage_bps", "risk_free_rate"):
            if key in values:
                values[key] = float(values[key])
        for key in ("commission_rate", "volume_cap", *EXIT_FIELDS):
            if values.get(key) is not None:
                values[key] = float(values[key])
        return cls(**values)


def _date(value: Any) -> dt.date:
    return value if isinstance(value, dt.date) else dt.date.fromisoformat(str(value))
