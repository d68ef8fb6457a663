"""Pydantic in/out models of the backtest context (the shapes of the product owner's API draft)."""

from __future__ import annotations

import uuid
from datetime import date, datetime
from typing import Annotated, Any, Literal

from pydantic import AliasChoices, BaseModel, ConfigDict, Field, StringConstraints, model_validator

Frequency = Literal["1d", "5min", "15min"]
ArtifactType = Literal["equity", "trades", "orders", "positions", "fills", "logs", "metrics", "report"]
ArtifactFormat = Literal["csv", "json", "parquet", "xlsx", "html"]
HeaderLanguage = Literal["en", "zh"]
PriorityName = Literal["high", "default", "low"]
Symbol = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=20)]

MAX_UNIVERSE = 300
MAX_SELECTION = 6000  # stocks an index / all selection may resolve to (the whole A-share market, ~5,400)
MAX_BUDGET_MS = 86_400_000


class StrategyRef(BaseModel):
    """Which strategy to run: an exact version, a strategy (its latest version), a built-in template
    (copied into a new strategy of yours), or `code` — short strategy source submitted inline, saved as a
    new strategy of yours (the same static checks and dry run as saving one) and pinned. `params` become
    the backtest's default parameters."""

    model_config = ConfigDict(extra="forbid")

    version_id: uuid.UUID | None = None
    strategy_id: uuid.UUID | None = None
    template: str | None = Field(None, max_length=100, description="Built-in template name, e.g. `ma_cross`.")
    code: str | None = Field(
        None,
        description="Strategy source (也可用 strategyRef.code 直接提交简短策略代码): saved as version 1 of a new "
        "strategy named `name`, checked like any saved strategy.",
    )
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)] | None = Field(
        None,
        description="Name of the strategy created from `template` or `code` (default: the template, or "
        "`inline`, + a short id).",
    )
    params: dict[str, Any] = Field(default_factory=dict, description="Default parameter values of the backtest.")

    @model_validator(mode="after")
    def _exactly_one(self) -> StrategyRef:
        given = [k for k in ("version_id", "strategy_id", "template", "code") if getattr(self, k) is not None]
        if len(given) != 1:
            raise ValueError("give exactly one of version_id, strategy_id, template or code")
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
    stop_loss: float | None = Field(
        None, gt=0, lt=1, description="Exit a position when a bar's low falls this fraction below its entry price."
    )
    take_profit: float | None = Field(
        None, gt=0, le=10, description="Exit a position when a bar's high rises this fraction above its entry price."
    )
    trailing_stop: float | None = Field(
        None, gt=0, lt=1, description="Exit when a bar's low falls this fraction below the highest high since entry."
    )
    audit_lookahead: Literal["off", "warn", "strict"] = Field(
        "off",
        description="Recompute the targets on prefixes of the window before the run: `warn` logs a LOOKAHEAD "
        "warning where they differ, `strict` fails the run.",
    )


class UniverseSelection(BaseModel):
    """A universe chosen on every session, point in time: the members of `index` as of that session
    (`{"index": "000300.SH"}`) or every stock listed that day (`{"all": true}`, delisted stocks while they
    traded), optionally only some `boards`, without ST stocks, or only stocks listed for `min_listed_sessions`
    sessions, or only on sessions whose float value / turnover (daily_basic, as known at that session's
    close) reach `min_float_value` / `min_turnover`. A stock is held only on sessions it belongs to (its
    targets are 0 on the others). It may resolve to at most 6,000 stocks."""

    model_config = ConfigDict(extra="forbid")

    index: Symbol | None = Field(None, description="An index code with constituents, e.g. `000300.SH`.")
    all: bool = Field(False, description="Every listed stock.")
    boards: list[Literal["main", "chinext", "star", "bse"]] | None = None
    exclude_st: bool = Field(False, description="Leave out stocks under risk warning (ST, *ST) on each session.")
    min_listed_sessions: int = Field(0, ge=0, le=5000, description="Sessions traded since listing, at least.")
    min_float_value: float | None = Field(
        None, ge=0, le=1e14, description="Float market value (circ_mv) at least, in CNY (元), e.g. 5e9 for 50亿."
    )
    min_turnover: float | None = Field(
        None, ge=0, le=100, description="Turnover (turnover_rate) at least, in % of the float, e.g. 0.5."
    )

    @model_validator(mode="after")
    def _one_source(self) -> UniverseSelection:
        if (self.index is None) == (not self.all):
            raise ValueError("name either `index` or `all: true`")
        return self


class BacktestContext(BaseModel):
    """Universe, frequency, window, data snapshot, cash, rules and benchmark."""

    model_config = ConfigDict(extra="forbid")

    universe: Annotated[list[Symbol], Field(min_length=1, max_length=MAX_UNIVERSE)] | UniverseSelection = Field(
        description=f'Up to {MAX_UNIVERSE} codes, or a point-in-time selection (`{{"index": "000300.SH"}}`, '
        '`{"all": true}`, with filters) resolved against the pinned snapshot\'s data.'
    )
    frequency: Frequency = "1d"
    window: Window
    datasource_version: str | None = Field(
        None,
        max_length=100,
        description="Data snapshot id to pin (default: the default snapshot, `GET /api/market/snapshots/default`).",
    )
    adjust: Literal["none", "qfq", "hfq", "qfq_pit"] = Field(
        "qfq",
        description="Price adjustment the strategy sees: `qfq` (forward, anchored at the window's end: the "
        "default, Tushare's and most platforms' convention, but its levels carry later factors), `qfq_pit` "
        "(anchored at the window's start: each bar's level is point-in-time), `hfq` or `none`. Fills use "
        "raw prices under the a-share preset either way.",
    )
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
    universe: list[str] = Field(description="The codes (of a selection: every code it holds in the window).")
    selection: UniverseSelection | None = Field(None, description="The point-in-time selection, if any.")
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
    warnings: list[str] = Field(
        default_factory=list,
        description="What the data could not give, e.g. a benchmark index without bars in the pinned snapshot "
        "(the runs then have no benchmark curve).",
    )


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


class WalkForward(BaseModel):
    """Rolling folds: search on `train`, evaluate the best on the following `test`, move on by `step`
    (default `test`). Durations are a count and d, w, m or y: `6m`, `2y`."""

    model_config = ConfigDict(extra="forbid")

    train: str = Field(max_length=8, examples=["2y"])
    test: str = Field(max_length=8, examples=["6m"])
    step: str | None = Field(None, max_length=8, examples=["6m"])


class Validation(BaseModel):
    """Out-of-sample validation of a sweep: `walk_forward` folds, or one `split` date (in-sample before it,
    out-of-sample from it)."""

    model_config = ConfigDict(extra="forbid")

    walk_forward: WalkForward | None = None
    split: date | None = None


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
    validation: Validation | None = Field(
        None, description="Grid / random sweeps: walk-forward folds or a split date, evaluated out of sample."
    )


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
    folds: list[dict[str, str]] | None = Field(
        None, description="With `validation`: the train and test windows of every fold (inclusive dates)."
    )


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
    disclaimer: str = Field(
        description="研究用途，不构成投资建议 / research use only, not investment advice (shown with every result)."
    )
    artifacts: dict[str, ArtifactRef]
    manifest: dict[str, Any] | None
    error: RunError | None


# --- share links -----------------------------------------------------------------------------------------


class ShareInclude(BaseModel):
    """What a share link shows besides the metrics, curves and return tables (never the strategy source,
    raw market bars or anything of other runs)."""

    model_config = ConfigDict(extra="forbid")

    trades: bool = Field(True, description="The round trips and the blocked orders.")
    positions: bool = Field(False, description="The end-of-day positions.")


class ShareCreate(BaseModel):
    """Share a run read-only: `expires_in` is required (`30m`, `12h`, `7d`; at most the configured maximum)."""

    model_config = ConfigDict(extra="forbid")

    expires_in: str = Field(max_length=16, description="Lifetime: a number and a unit s, m, h or d, e.g. `7d`.")
    include: ShareInclude = Field(default_factory=ShareInclude)


class ShareRead(BaseModel):
    """A share link as its owner sees it (the token itself is shown only once, when created)."""

    id: uuid.UUID
    run_id: uuid.UUID | None = Field(description="The shared run (null for a sweep's link).")
    optimization_id: uuid.UUID | None = Field(None, description="The shared sweep (null for a run's link).")
    include: ShareInclude
    status: Literal["active", "expired", "revoked"]
    expires_at: datetime
    revoked_at: datetime | None
    visits: int = Field(description="Views of the report or its data (分享链接访问量).")
    last_visit_at: datetime | None
    created_at: datetime


class ShareCreated(ShareRead):
    token: str = Field(description="The link's secret; shown only in this answer (only its hash is stored).")
    url: str = Field(description="The public report page, `<base>/s/<token>`; opens without login.")


# --- the report and the shared view --------------------------------------------------------------------


class ReportRun(BaseModel):
    """What was run: strategy, version, parameters, universe, window, data snapshot, rules."""

    run_id: uuid.UUID
    strategy_name: str
    version_number: int
    params: dict[str, Any]
    universe: list[str]
    frequency: str
    window: Window
    datasource: str
    datasource_version: str
    adjust: str
    benchmark: str | None
    initial_cash: float
    rules: dict[str, Any]
    completed_at: datetime | None


class ReportManifest(BaseModel):
    """The reproducibility manifest: engine, rulebook, strategy source hash, data hash."""

    engine_version: str | None
    rulebook_version: str | None
    preset: str | None
    fill: str | None
    strategy_hash: str | None
    data_hash: str | None
    snapshot_id: str | None
    bars: int | None
    period: list[str] | None


class ReportData(BaseModel):
    """Everything a run's report shows, and what a share link's data answer carries (`/api/shared/{token}`):
    built from the same result views as `/api/runs/{id}/curves`, `drawdowns`, `returns`, `trades`, ..."""

    run: ReportRun
    metrics: dict[str, Any]
    manifest: ReportManifest
    curves: dict[str, Any] = Field(
        description="`ts`, `equity` and `benchmark` (rebased to 1 at the start), `drawdown`; downsampled by MinMaxLTTB."
    )
    drawdowns: list[DrawdownPeriod] = Field(description="The deepest drawdown periods (shaded on the chart).")
    monthly: list[PeriodReturn] = Field(description="Monthly returns: strategy, benchmark, excess.")
    yearly: list[PeriodReturn] = Field(description="Yearly returns: strategy, benchmark, excess.")
    distribution: dict[str, Any] = Field(description="Histogram of the per-bar returns: `edges` and `counts`.")
    fees: dict[str, float] = Field(description="commission, stamp_duty, transfer_fee, total.")
    orders_by_reason: list[dict[str, Any]] = Field(
        description="Orders not (fully) filled, counted by status and reason."
    )
    orders_by_tag: list[dict[str, Any]] = Field(
        default_factory=list,
        description="Orders an event-driven strategy labelled (`reason=`), counted by tag, side and status.",
    )
    trades: list[TradeRow] | None = Field(description="The first round trips (None when not included).")
    trade_total: int | None
    blocked_orders: list[OrderRow] | None = Field(description="The first orders not fully filled (with trades).")
    positions: list[PositionRow] | None = Field(description="The last session's positions (when included).")


class SharedView(ReportData):
    """A share link's data: the report's content, what the owner chose to include, and the link's expiry."""

    include: ShareInclude
    expires_at: datetime


# --- studying results (service.results) -----------------------------------------------------------------

MAX_COMPARE = 10
MIN_POINTS, MAX_POINTS = 10, 10_000


class TradeRow(BaseModel):
    """A round trip (flat → flat): net P&L after every fee, return on the money paid, holding sessions."""

    symbol: str
    entry_date: date
    exit_date: date
    quantity: float
    entry_price: float
    exit_price: float
    pnl: float
    return_: float | None = Field(alias="return", serialization_alias="return")
    holding_sessions: int

    model_config = ConfigDict(populate_by_name=True, serialize_by_alias=True)


class OrderRow(BaseModel):
    """An order as the engine saw it: filled, partial or rejected (with its reason), with its fees."""

    ts: datetime
    date: date
    symbol: str
    side: str
    target_qty: float
    requested_qty: float
    filled_qty: float
    price: float | None
    value: float
    commission: float
    stamp_duty: float
    transfer_fee: float
    fees: float
    status: str
    reason: str | None
    tag: str | None = None  # an event-driven strategy's own label (`order_target(code, 0, reason="STOP_LOSS")`)


class FillRow(BaseModel):
    """An executed quantity with its fee breakdown and signed cash flow."""

    ts: datetime
    date: date
    symbol: str
    side: str
    qty: float
    price: float
    value: float
    commission: float
    stamp_duty: float
    transfer_fee: float
    fees: float
    cash_flow: float


class PositionRow(BaseModel):
    """An end-of-day holding with its average cost, unrealised P&L and weight in the session's equity."""

    date: date
    symbol: str
    shares: float
    close: float
    market_value: float
    avg_cost: float | None
    unrealised_pnl: float | None
    weight: float | None


class CurvesRead(BaseModel):
    """Chart-ready curves of a run, column by column on the same timestamps: equity, cash, market value,
    drawdown and the benchmark's equity rebased to the initial cash (None without a benchmark)."""

    run_id: uuid.UUID
    start: date = Field(description="First session in the range.")
    end: date = Field(description="Last session in the range.")
    rows: int = Field(description="Bars in the range before downsampling.")
    points: int = Field(description="Points returned.")
    method: Literal["none", "MinMaxLTTB"]
    initial_cash: float
    ts: list[datetime]
    equity: list[float]
    cash: list[float]
    market_value: list[float]
    drawdown: list[float]
    benchmark: list[float | None] | None


class DrawdownPeriod(BaseModel):
    """A drawdown period: the peak before it, its trough, its recovery (None if not yet), depth (≤ 0) and
    length in sessions (peak to recovery, or to the last session)."""

    peak: date
    trough: date
    recovery: date | None
    depth: float
    sessions: int
    peak_equity: float
    trough_equity: float


class PeriodReturn(BaseModel):
    period: str = Field(description="`YYYY-MM` or `YYYY`.")
    strategy: float
    benchmark: float | None
    excess: float | None


class ReturnTables(BaseModel):
    """Monthly and yearly returns of the strategy, the benchmark and the excess (strategy − benchmark)."""

    run_id: uuid.UUID
    monthly: list[PeriodReturn]
    yearly: list[PeriodReturn]


class RollingRead(BaseModel):
    """Rolling Sharpe, volatility and beta over `window` sessions (None before a full window)."""

    run_id: uuid.UUID
    window: int
    date: list[date]
    sharpe: list[float | None]
    volatility: list[float | None]
    beta: list[float | None]


class RunStudy(BaseModel):
    """What a results page shows beside the curves: the deepest drawdown periods, the return tables and
    the trade and day statistics (computed from the run's artifacts)."""

    run_id: uuid.UUID
    drawdown_periods: list[DrawdownPeriod]
    monthly: list[PeriodReturn]
    yearly: list[PeriodReturn]
    statistics: dict[str, float | int | None]


class CompareRequest(BaseModel):
    model_config = ConfigDict(extra="forbid")

    run_ids: list[uuid.UUID] = Field(min_length=2, max_length=MAX_COMPARE, description="2–10 of your runs.")


class ComparedRun(BaseModel):
    run_id: uuid.UUID
    backtest_id: uuid.UUID
    strategy_name: str
    frequency: str
    start: date
    end: date
    initial_cash: float


class Comparison(BaseModel):
    """Runs on one calendar (the union of their sessions): each curve as wealth / its initial cash (1 = its
    own start, None where it is not live), the intersection window where every run is live, the metrics
    side by side and the correlation matrix of daily returns over the intersection window."""

    runs: list[ComparedRun]
    dates: list[date]
    curves: dict[str, list[float | None]]
    window: Window | None
    metrics: dict[str, dict[str, float | int | None]] = Field(description="metric → run id → value")
    correlation: list[list[float | None]]


class ManifestChange(BaseModel):
    path: str
    a: Any = None
    b: Any = None


class MetricDelta(BaseModel):
    a: float | int | None
    b: float | int | None
    delta: float | None


class RunDiff(BaseModel):
    """Why two runs differ: manifest differences, the unified diff of the strategy sources, the first
    session where their equity differs, and the metric deltas (b − a). A rerun is `identical`."""

    a: uuid.UUID
    b: uuid.UUID
    status: Literal["identical", "different"]
    manifest: list[ManifestChange]
    source_diff: str | None
    first_difference: date | None
    metrics: dict[str, MetricDelta]


ReportData.model_rebuild()
SharedView.model_rebuild()
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
    validation: dict[str, Any] | None = Field(
        None,
        description="Out-of-sample validation (when asked): per fold the train and test windows, best params, "
        "in-sample and out-of-sample metric; the stitched out-of-sample equity curve and its metrics.",
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


class BacktestCounts(BaseModel):
    """Operations figures of backtests and runs across every owner (monitoring)."""

    backtests: int
    runs: int
    optimisations_running: int = Field(0, description="Parameter sweeps queued or running now.")
    share_link_visits: int = Field(0, description="Visits of every share link so far (分享链接访问量).")


class SweepReportData(BaseModel):
    """Everything a sweep's report shows: the sweep as `GET /api/optimizations/{id}` answers it (status,
    budget, stop reason, diagnostics), the heatmap as `/heatmap` answers it and the first page of
    `/results` (the Top-N) — the same service calls, nothing computed twice."""

    optimization: OptimizationRead
    strategy_name: str
    version_number: int
    parameters: list[str] = Field(description="The swept parameters first, then the fixed ones.")
    heatmap: Heatmap | None = Field(description="None when the sweep has fewer than two parameters.")
    top: list[OptimizationResult]
    result_total: int
