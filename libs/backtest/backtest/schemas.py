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


MAX_COMBINATIONS = 100_000
MAX_CONCURRENCY = 16
MAX_BATCH_SIZE = 2_000
Direction = Literal["max", "min"]


class Range(BaseModel):
    """An inclusive range of a grid axis: start, start + step, … ≤ stop."""

    model_config = ConfigDict(extra="forbid")

    start: float
    stop: float
    step: float = Field(gt=0)


class Distribution(BaseModel):
    """How random and Bayesian search draw one parameter: `uniform` / `log_uniform` (floats in
    [low, high]), `int` (integers in [low, high], every `step`), `choices` (one of `values`)."""

    model_config = ConfigDict(extra="forbid")

    type: Literal["uniform", "log_uniform", "int", "choices"]
    low: float | None = None
    high: float | None = None
    step: int | None = Field(None, ge=1)
    values: list[Any] | None = Field(None, min_length=1, max_length=1000)

    @model_validator(mode="after")
    def _bounds(self) -> Distribution:
        if self.type == "choices":
            if not self.values:
                raise ValueError("choices need values")
        elif self.low is None or self.high is None or self.high < self.low:
            raise ValueError("give low <= high")
        elif self.type == "log_uniform" and self.low <= 0:
            raise ValueError("log_uniform needs low > 0")
        return self


class Objective(BaseModel):
    """The metric a sweep ranks combinations by (any summary metric) and whether higher or lower is better."""

    model_config = ConfigDict(extra="forbid")

    metric: str = Field("sharpe", max_length=40)
    mode: Direction = "max"


class EarlyStop(BaseModel):
    """Stop when `patience` evaluations in a row did not improve the best `metric` (by `mode`)."""

    model_config = ConfigDict(extra="forbid")

    metric: str = Field(max_length=40)
    mode: Direction = "max"
    patience: int = Field(ge=1, le=MAX_COMBINATIONS)


class RunCreate(BaseModel):
    """Submit a run: `mode` `single` runs one parameter set (merged over the backtest's defaults); `grid`,
    `random` and `bayes` start an optimisation (a parameter sweep evaluated in batches on the workers)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    mode: Literal["single", "grid", "random", "bayes"] = "single"
    params: dict[str, Any] = Field(default_factory=dict, description="Fixed parameters (over the backtest's).")
    budget_ms: int | None = Field(
        None, ge=1000, le=MAX_BUDGET_MS, description="Wall budget of the run (of the whole sweep for sweeps)."
    )
    priority: PriorityName | Annotated[int, Field(ge=1, le=9)] | None = Field(
        None, description="`high`/`default`/`low`, or 1–9 (7–9 high, 4–6 default, 1–3 low)."
    )
    grid_spec: dict[str, list[Any] | Range] | None = Field(
        None,
        validation_alias=AliasChoices("gridSpec", "grid_spec"),
        description="`grid`: values per parameter, a list or `{start, stop, step}` (inclusive).",
    )
    space: dict[str, Distribution] | None = Field(None, description="`random` / `bayes`: a distribution per parameter.")
    n: int | None = Field(None, ge=1, le=MAX_COMBINATIONS, description="`random` / `bayes`: evaluations to draw.")
    seed: int = Field(0, ge=0, le=2**31 - 1, description="`random` / `bayes`: the sampler's seed.")
    max_evals: int | None = Field(None, ge=1, le=MAX_COMBINATIONS, description="Evaluate at most this many.")
    objective: Objective | None = Field(None, description="Ranking metric (default: early_stop's, else sharpe max).")
    early_stop: EarlyStop | None = None
    concurrency_limit: int = Field(2, ge=1, le=MAX_CONCURRENCY, description="Batches running at once.")
    batch_size: int | None = Field(None, ge=1, le=MAX_BATCH_SIZE, description="Combinations per batch job.")
    dry_run: bool = Field(False, description="Sweeps: answer the preview only; nothing is queued.")


class RejectedCombination(BaseModel):
    params: dict[str, Any]
    field: str | None
    error: str


class SweepPreview(BaseModel):
    """What a sweep would do: combinations, those the strategy rejects (with reasons), batches, a time
    estimate."""

    combinations: int = Field(description="Combinations the spec expands to.")
    rejected: int = Field(description="Combinations the parameter schema or `check_params` rejects.")
    rejected_reasons: dict[str, int]
    rejected_sample: list[RejectedCombination]
    evaluations: int = Field(description="Combinations that will be evaluated (after max_evals).")
    batches: int
    batch_size: int
    estimated_ms: int = Field(description="Rough wall time on the workers, from the engine's measured speed.")
    check_params: str = Field(description="`checked` (templates) or `in_batches` (user code runs only confined).")


class RunIds(BaseModel):
    """The runs created (`mode: single`); sweeps answer their `optimization_id` (and `preview`)."""

    run_ids: list[uuid.UUID]
    optimization_id: uuid.UUID | None = None
    preview: SweepPreview | None = None


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
    artifacts: dict[str, ArtifactRef]
    manifest: dict[str, Any] | None
    error: RunError | None


# --- optimisations -------------------------------------------------------------------------------------


class BestSoFar(BaseModel):
    index: int
    params: dict[str, Any]
    metric: float


class BudgetUsed(BaseModel):
    evaluations: int
    max_evals: int | None
    wall_ms: int
    budget_ms: int | None


class BatchRead(BaseModel):
    batch_index: int
    job_id: uuid.UUID | None
    status: str
    combinations: int
    timing: dict[str, Any] | None
    started_at: datetime | None
    finished_at: datetime | None


class OptimizationRead(BaseModel):
    """A sweep: status, progress, budget used, best so far, the reason it ended, ETA and diagnostics."""

    optimization_id: uuid.UUID
    backtest_id: uuid.UUID
    mode: str
    status: str = Field(description="queued → running → succeeded | failed | cancelled | early_stopped")
    total: int
    evaluated: int
    failed: int
    progress: float
    metric: str
    direction: str
    best: BestSoFar | None
    budget: BudgetUsed
    reason: str | None
    eta_ms: int | None
    concurrency_limit: int
    batch_size: int
    early_stop: dict[str, Any] | None
    spec: dict[str, Any]
    diagnostics: dict[str, Any] | None = Field(
        description="Deflated Sharpe ratio of the best combination and PBO (CSCV), for sweeps of ≥ 10."
    )
    batches: list[BatchRead]
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None


class OptimizationResult(BaseModel):
    index: int
    params: dict[str, Any]
    status: str
    metrics: dict[str, Any] | None
    error: dict[str, Any] | None


class Heatmap(BaseModel):
    """`z[i][j]` = the metric at y = `y_values[i]`, x = `x_values[j]`; null where nothing was evaluated.
    Other parameters are aggregated by `aggregation` (the best by the sweep's direction)."""

    x: str
    y: str
    metric: str
    aggregation: str
    x_values: list[Any]
    y_values: list[Any]
    z: list[list[float | None]]
