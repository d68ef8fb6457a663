"""Pydantic in/out models of strategy_management; `VersionRead` is the view other contexts consume."""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from platform_core.edge import INT32_MAX
from strategy_management.domain import EXPORT_FORMAT

Name = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=100)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=40)]
Description = Annotated[str, StringConstraints(max_length=2000)]
Message = Annotated[str, StringConstraints(max_length=500)]
SortKey = Literal["name", "-name", "created_at", "-created_at", "updated_at", "-updated_at"]


class ParamSchema(BaseModel):
    """One declared parameter of a strategy (from `PARAMS = [param(...)]`)."""

    name: str
    type: Literal["int", "float", "bool", "str"]
    default: Any
    min: int | float | None = None
    max: int | float | None = None
    choices: list[Any] | None = None
    step: int | float | None = None
    description: str = ""


class StrategyCreate(BaseModel):
    """A new strategy with its first version."""

    model_config = ConfigDict(extra="forbid")

    name: Name
    description: Description = ""
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    source: str = Field(
        description="Python source: imports polars/numpy/math/statistics/datetime and "
        "backtest.engine.sdk only; defines PARAMS and generate(bars, params) (vectorised) or "
        "initialize(context) and handle_bar(context, bar) (event-driven)."
    )
    message: Message = ""


class FromTemplate(BaseModel):
    """Copy a built-in template into a new strategy of the caller's."""

    model_config = ConfigDict(extra="forbid")

    template: str
    name: Name | None = Field(None, description="Defaults to the template's name.")
    description: Description | None = None
    tags: list[Tag] = Field(default_factory=list, max_length=20)


class StrategyUpdate(BaseModel):
    """Rename, re-describe or re-tag; omitted fields stay as they are."""

    model_config = ConfigDict(extra="forbid")

    name: Name | None = None
    description: Description | None = None
    tags: list[Tag] | None = Field(None, max_length=20)


class VersionCreate(BaseModel):
    """New source for a strategy: creates the next immutable version (unless the source is unchanged)."""

    model_config = ConfigDict(extra="forbid")

    source: str
    message: Message = ""


class VersionSummary(BaseModel):
    id: uuid.UUID
    number: int
    content_hash: str
    message: str
    created_at: datetime


class VersionRead(BaseModel):
    """One immutable version: exact source, parameter schema, metadata and content hash."""

    id: uuid.UUID
    strategy_id: uuid.UUID
    strategy_name: str
    number: int
    source: str
    params_schema: list[ParamSchema]
    metadata: dict[str, Any]
    content_hash: str
    created_at: datetime


class StrategyRead(BaseModel):
    id: uuid.UUID
    name: str
    description: str
    tags: list[str]
    archived: bool
    version_count: int
    latest_version: VersionSummary | None
    created_at: datetime
    updated_at: datetime


class VersionDiff(BaseModel):
    """What changed between two versions of one strategy."""

    strategy_id: uuid.UUID
    from_number: int
    to_number: int
    same_source: bool
    diff: list[str]
    params: dict[str, Any]


class ValidateRequest(BaseModel):
    """Dry-run options: which version (default latest) and which parameter values (default: defaults)."""

    model_config = ConfigDict(extra="forbid")

    version: int | None = Field(None, ge=1, le=INT32_MAX)
    params: dict[str, Any] = Field(default_factory=dict)


class LookaheadAudit(BaseModel):
    """The look-ahead audit of a dry run: the targets recomputed on prefixes of the sample bars must equal
    the whole sample's up to each prefix's end; otherwise LOOKAHEAD with the first session and symbol."""

    status: Literal["passed", "LOOKAHEAD"]
    prefix_ends: list[str]
    session: str | None = None
    symbol: str | None = None
    message: str | None = None


class ValidationReport(BaseModel):
    """The dry run's outcome on sample bars: resolved parameters and a summary of the targets."""

    ok: bool
    version: int
    content_hash: str
    params: dict[str, Any]
    sample_symbols: list[str]
    sample_bars: int
    target_rows: int
    target_column: str
    nonzero_targets: int
    first_ts: datetime | None = Field(description="The first target's bar time, exchange local (+08:00).")
    last_ts: datetime | None = Field(description="The last target's bar time, exchange local (+08:00).")
    output: list[str] = Field(
        default_factory=list, description="What the strategy printed or logged (bounded, secrets masked)."
    )
    lookahead: LookaheadAudit | None = Field(
        None, description="The look-ahead audit: a warning (LOOKAHEAD) where the strategy reads later bars."
    )


class TemplateSummary(BaseModel):
    name: str
    title: str
    doc: str
    params: list[ParamSchema]


class TemplateRead(TemplateSummary):
    source: str


class StrategyExport(BaseModel):
    """The portable file of a strategy (`huice strategy export` / `import`)."""

    model_config = ConfigDict(extra="forbid")

    format: Literal["huice.strategy/v1"] = EXPORT_FORMAT
    name: Name
    description: Description = ""
    tags: list[Tag] = Field(default_factory=list, max_length=20)
    source: str
    params_schema: list[ParamSchema] = Field(default_factory=list)
    metadata: dict[str, Any] = Field(default_factory=dict)
    content_hash: str | None = None
    version: int | None = None
    exported_at: datetime | None = None


class ImportRequest(BaseModel):
    """An export file, optionally imported under another name."""

    model_config = ConfigDict(extra="forbid")

    file: StrategyExport
    name: Name | None = None


class ReferenceCreate(BaseModel):
    ref: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=200)]


class StrategyCounts(BaseModel):
    """Operations figures of the strategies (monitoring), across every owner."""

    strategies: int
    archived: int
    versions: int
    from_template: int = Field(description="Strategies whose first version is a template copy.")
    template_usage: dict[str, int] = Field(description="Strategies copied from each template.")
    template_usage_rate: float | None = Field(description="from_template / strategies.")
