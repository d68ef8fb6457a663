"""Pydantic in/out models of the backtest context (the shapes of the product owner's API draft)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StringConstraints, model_validator

Frequency = Literal["1d", "5min", "15min"]
ArtifactType = Literal["equity", "trades", "orders", "positions", "fills", "logs"]
ArtifactFormat = Literal["csv", "json", "parquet"]
PriorityName = Literal["high", "default", "low"]
Symbol = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]

MAX_UNIVERSE = 300
MAX_BUDGET_MS = 86_400_000


class StrategyRef(BaseModel):
    """Which strategy to run: an exact version, a strategy (its latest version), or a built-in template
    (copied into a new strategy of yours). `params` become the backtest's default parameters."""

    model_config = ConfigDict(extra="forbid")

    version_id: uuid.UUID | None = None
    strategy_id: uuid.UUID | None = None
    template: str | None = Field(None, max_length=100, description="Built-in template name, e.g. `ma_cross`.")
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] | None = Field(
        None, description="Name of the strategy created from `template` (default: template + a short id)."
    )
    params: dict[str, Any] = Field(default_factory=dict, description="Default parameter values of the backtest.")

    @model_validator(mode="after")
    def _exactly_one(self) -> StrategyRef:
        given = [k for k in ("version_id", "strategy_id", "template") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of version_id, strategy_id or template")
        return self


class Window(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: date
    end: date


class Rules(BaseModel):
    """Rules preset and overrides of the simulation (omitted = the preset's defaults)."""

    model_config = ConfigDict(extra="forbid")

    preset: Literal["a-share", "plain"] = "a-share"
    fill: Literal["next_open", "next_close", "same_close"] = "next_open"
    commission_rate: float | None = Field(None, ge=0, le=0.003)
    min_commission: float | None = Field(None, ge=0)
    slippage_bps: float | None = Field(None, ge=0, le=1000)
    limit_policy: Literal["locked", "touch"] | None = None
    volume_cap: float | None = Field(None, gt=0, le=1)


class BacktestContext(BaseModel):
    """Universe, frequency, window, data snapshot, cash, rules and benchmark."""

    model_config = ConfigDict(extra="forbid")

    universe: list[Symbol] = Field(min_length=1, max_length=MAX_UNIVERSE)
    frequency: Frequency = "1d"
    window: Window
    datasource_version: str | None = Field(
        None, max_length=100, description="Data snapshot id to pin (default: the newest snapshot)."
    )
    adjust: Literal["none", "qfq", "hfq"] = "qfq"
    initial_cash: float = Field(1_000_000.0, gt=0, le=1e12)
    benchmark: Symbol | None = Field(None, description="Benchmark index code, e.g. `000300.SH`.")
    rules: Rules = Field(default_factory=Rules)


class BacktestCreate(BaseModel):
    """A backtest: what to run (`strategyRef`) on what (`context`)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    strategy_ref: StrategyRef = Field(validation_alias=AliasChoices("strategyRef", "strategy_ref"))
    context: BacktestContext
    notes: str = Field("", max_length=2000)


class StrategyPin(BaseModel):
    strategy_id: uuid.UUID
    version_id: uuid.UUID
    strategy_name: str
    version_number: int
    content_hash: str


class ContextRead(BaseModel):
    universe: list[str]
    frequency: Frequency
    window: Window
    datasource: str = Field(description="Source of the pinned snapshot: `sample` or `tushare`.")
    datasource_version: str = Field(description="The pinned data snapshot id.")
    adjust: str
    initial_cash: float
    benchmark: str | None
    rules: Rules


class BacktestRead(BaseModel):
    """A backtest as its owner sees it."""

    id: uuid.UUID
    strategy: StrategyPin
    context: ContextRead
    params: dict[str, Any]
    notes: str
    created_at: datetime


class BacktestCreated(BaseModel):
    backtest_id: uuid.UUID
    backtest: BacktestRead


class RunCreate(BaseModel):
    """Submit a run: `mode` `single` runs one parameter set (merged over the backtest's defaults)."""

    model_config = ConfigDict(extra="forbid")

    mode: Literal["single"] = "single"
    params: dict[str, Any] = Field(default_factory=dict)
    budget_ms: int | None = Field(None, ge=1000, le=MAX_BUDGET_MS, description="Wall budget of the run.")
    priority: PriorityName | Annotated[int, Field(ge=1, le=9)] | None = Field(
        None, description="`high`/`default`/`low`, or 1–9 (7–9 high, 4–6 default, 1–3 low)."
    )


class RunIds(BaseModel):
    run_ids: list[uuid.UUID]


class ArtifactRef(BaseModel):
    """One stored artifact (Parquet) of a run; download it as csv, json or parquet."""

    type: ArtifactType
    path: str
    rows: int
    bytes: int
    sha256: str
    url: str


class RunError(BaseModel):
    code: str
    message: str
    details: dict[str, Any] = {}


class RunOutcome(BaseModel):
    """What one successful attempt of a run reports to its job (the job's `result`)."""

    run_id: uuid.UUID
    total_return: float | None
    sharpe: float | None


class RunRead(BaseModel):
    """A run: status and progress (from its job), params, stats, artifacts and manifest."""

    run_id: uuid.UUID
    backtest_id: uuid.UUID
    job_id: uuid.UUID
    status: str = Field(description="queued → running → succeeded | failed | cancelled")
    progress: float
    progress_message: str
    params: dict[str, Any]
    priority: str
    budget_ms: int
    attempts: int
    max_attempts: int
    cancel_requested: bool
    rerun_of: uuid.UUID | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    queue_wait_s: float | None = Field(description="Seconds from submission to the first attempt's start.")
    stats: dict[str, Any] | None = Field(description="The metrics summary (None until the run succeeds).")
    disclaimer: str = Field(
        description="研究用途，不构成投资建议 / research use only, not investment advice (shown with every result)."
    )
    artifacts: dict[str, ArtifactRef]
    manifest: dict[str, Any] | None
    error: RunError | None
