"""The strategy model: load user (or template) source, validate parameters, compute targets.

A strategy module imports only polars, numpy, math, statistics, datetime and `quant.sdk` (also under its
old name `backtest.engine.sdk`, which stored sources use),
defines `PARAMS = [param(...), ...]` and `generate(bars, params) -> DataFrame[ts, symbol, weight|shares]`,
and optionally `generate_grid(bars, param_sets) -> list[DataFrame]`. Computing targets and simulating
are separate pure functions so a service can run the first in a confined subprocess.

An event-driven strategy (`quant.event`) defines `handle_bar(context, bar)` (and `initialize(context)`, ...)
instead of `generate`; a module defining both models, or neither, is refused. Its "targets" are its
order stream (`quant.event.order_streams`), which the engine replays."""

from __future__ import annotations

import ast
import difflib
import hashlib
import inspect
import math
import sys
from collections.abc import Callable
from dataclasses import dataclass
from types import CodeType
from typing import Any

import numpy as np
import polars as pl

from quant.fundamentals import FieldError, check_fields, strategy_frame
from quant.sdk import PARAM_TYPES, Columns, Param, ParamError

__all__ = [
    "ParamError",
    "StrategyError",
    "StrategySpec",
    "compute_targets",
    "compute_targets_grid",
    "load_strategy",
    "schema_to_json",
    "validate_params",
    "validate_strategy_params",
]

SDK_MODULE = "quant.sdk"
LEGACY_SDK_MODULES = ("backtest.engine.sdk",)  # the SDK's name before the core was its own package
ALLOWED_TOP_LEVEL = frozenset({"polars", "numpy", "math", "statistics", "datetime"})
ALLOWED_EXACT = frozenset({SDK_MODULE, *LEGACY_SDK_MODULES})
ALLOWED_IMPORTS = ALLOWED_TOP_LEVEL | ALLOWED_EXACT


def is_allowed_import(name: str) -> bool:
    """Whether strategy code may import module `name` (the one allow-list: static checks and sandbox guards)."""
    return name in ALLOWED_EXACT or name.split(".")[0] in ALLOWED_TOP_LEVEL


def install_sdk_aliases() -> None:
    """Make the SDK's old module names resolve to `quant.sdk` in this process (`from backtest.engine.sdk
    import ...` needs only the full name in `sys.modules`), also where the `backtest` package is absent."""
    from quant import sdk

    for name in LEGACY_SDK_MODULES:
        sys.modules.setdefault(name, sdk)


class StrategyError(ValueError):
    """The strategy source is invalid (syntax, forbidden import, missing `generate`/`PARAMS`, bad output)."""


@dataclass(frozen=True)
class StrategySpec:
    """A loaded strategy: its source, hash, parameter schema and entry points."""

    name: str
    source: str
    source_hash: str
    doc: str
    params: tuple[Param, ...]
    generate: Callable[[pl.DataFrame, dict], pl.DataFrame]
    generate_grid: Callable[[pl.DataFrame, list[dict]], list[pl.DataFrame]] | None
    generate_arrays: Callable | None = None
    generate_grid_arrays: Callable | None = None
    check_params: Callable[[dict], None] | None = None
    event: Any = None  # `quant.event.EventHooks` of an event-driven strategy (then `generate` is None)
    fields: tuple[str, ...] = ()  # the fundamentals its bars carry (`FIELDS`, see `quant.fundamentals`)


@dataclass(frozen=True)
class EventHooks:
    """The entry points of an event-driven strategy module."""

    handle_bar: Any
    initialize: Any = None
    before_trading: Any = None
    after_trading: Any = None
    on_order: Any = None


def hooks_from_namespace(namespace: dict) -> EventHooks | None:
    """The event hooks a module defines (JoinQuant / RQAlpha names accepted), or None if it defines no
    `handle_bar`; both `handle_bar` and `handle_data`, or hooks without a bar handler, are refused."""
    bar = [n for n in ("handle_bar", "handle_data") if callable(namespace.get(n))]
    init = [n for n in ("initialize", "init") if callable(namespace.get(n))]
    if len(bar) > 1 or len(init) > 1:
        raise StrategyError(f"define one of {' / '.join(bar or init)}, not both")
    if not bar:
        if init:
            raise StrategyError(f"an event-driven strategy needs handle_bar(context, bar) next to {init[0]}")
        return None
    pick = {
        name: next((namespace[n] for n in names if callable(namespace.get(n))), None)
        for name, names in {
            "before_trading": ("before_trading", "before_trading_start"),
            "after_trading": ("after_trading", "after_trading_end"),
            "on_order": ("on_order", "on_order_update"),
        }.items()
    }
    return EventHooks(namespace[bar[0]], namespace[init[0]] if init else None, **pick)


def source_hash(source: str) -> str:
    """sha256 of the UTF-8 source text."""
    return "sha256:" + hashlib.sha256(source.encode()).hexdigest()


def check_imports(tree: ast.AST) -> None:
    """Raise `StrategyError` for any import outside `ALLOWED_IMPORTS`."""
    for node in ast.walk(tree):
        names: list[str] = []
        if isinstance(node, ast.Import):
            names = [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            names = [node.module or ""] if node.level == 0 else ["<relative import>"]
        for name in names:
            if not is_allowed_import(name):
                raise StrategyError(f"line {node.lineno}: import of {name!r} is not allowed")


def user_error(exc: BaseException, spec: StrategySpec) -> StrategyError | None:
    """A `StrategyError` for an exception raised inside the strategy's own code — its message and the line of
    its source where it happened (`NameError: name 'x' is not defined (line 5: return bars.select(x))`) —
    or None when no frame of the strategy is on the traceback (the engine's own failure)."""
    line = None
    tb = exc.__traceback__
    while tb is not None:
        if tb.tb_frame.f_code.co_filename == spec.name:
            line = tb.tb_lineno
        tb = tb.tb_next
    if line is None:
        return None
    lines = spec.source.splitlines()
    text = lines[line - 1].strip() if 0 < line <= len(lines) else ""
    detail = str(exc).strip()
    described = f"{type(exc).__name__}: {detail}" if detail else type(exc).__name__
    return StrategyError(f"{described} (line {line} of the strategy: {text})")


def load_strategy(source: str, name: str = "<strategy>") -> StrategySpec:
    """Compile and execute strategy source in-process and return its `StrategySpec`."""
    try:
        tree = ast.parse(source, filename=name)
    except SyntaxError as exc:
        raise StrategyError(f"syntax error at line {exc.lineno}: {exc.msg}") from exc
    check_imports(tree)
    install_sdk_aliases()
    namespace: dict[str, Any] = {"__name__": f"huice_strategy_{name}"}
    try:
        exec(compile(tree, name, "exec"), namespace)  # noqa: S102 - the strategy model is in-process by design
    except Exception as exc:
        raise StrategyError(f"strategy failed to load: {type(exc).__name__}: {exc}") from exc
    return spec_from_namespace(namespace, tree, source, name)


def load_engine_strategy(source: str, name: str, code: CodeType | None = None) -> StrategySpec:
    """`load_strategy` for the engine's own template sources: the same spec, without the import check's
    Python-level walk over the syntax tree (a first call in a fresh process pays it otherwise). `code`:
    `source` already compiled with the file name `name` (the templates' cached bytecode)."""
    install_sdk_aliases()
    namespace: dict[str, Any] = {"__name__": f"huice_strategy_{name}"}
    exec(code if code is not None else compile(source, name, "exec"), namespace)  # noqa: S102 - engine code
    return spec_from_namespace(namespace, None, source, name)


def spec_from_namespace(namespace: dict[str, Any], tree: ast.Module | None, source: str, name: str) -> StrategySpec:
    """The `StrategySpec` of an executed strategy module (also used by the confined runner's child);
    without `tree` the docstring is the module's `__doc__` (cleaned as `ast.get_docstring` does)."""
    generate = namespace.get("generate")
    params = namespace.get("PARAMS", [])
    event = hooks_from_namespace(namespace)
    if event is not None and callable(generate):
        raise StrategyError(
            "strategy defines both models: generate(bars, params) (vectorised) and handle_bar(context, bar) "
            "(event-driven); keep one"
        )
    if event is None and not callable(generate):
        raise StrategyError(
            "strategy must define generate(bars, params) (vectorised) or initialize(context) and "
            "handle_bar(context, bar) (event-driven)"
        )
    if not isinstance(params, list | tuple) or not all(isinstance(p, Param) for p in params):
        raise StrategyError("PARAMS must be a list of param(...) declarations")
    try:
        fields = check_fields(namespace.get("FIELDS", ()))
    except FieldError as exc:
        raise StrategyError(str(exc)) from None
    if fields and event is not None:
        raise StrategyError("FIELDS is for vectorised strategies (generate(bars, params)); event-driven ones get none")
    grid = namespace.get("generate_grid")
    arrays, grid_arrays = namespace.get("generate_arrays"), namespace.get("generate_grid_arrays")
    check = namespace.get("check_params")
    return StrategySpec(
        name=name,
        source=source,
        source_hash=source_hash(source),
        doc=(_docstring(namespace) if tree is None else ast.get_docstring(tree) or "").strip(),
        params=tuple(params),
        generate=generate if event is None else None,
        generate_grid=grid if callable(grid) and event is None else None,
        generate_arrays=arrays if callable(arrays) and event is None else None,
        generate_grid_arrays=grid_arrays if callable(grid_arrays) and event is None else None,
        check_params=check if callable(check) else None,
        event=event,
        fields=fields,
    )


def _docstring(namespace: dict[str, Any]) -> str:
    doc = namespace.get("__doc__")
    return inspect.cleandoc(doc) if isinstance(doc, str) else ""


def schema_to_json(schema: tuple[Param, ...] | list[Param]) -> list[dict]:
    """JSON-serialisable parameter schema."""
    return [p.to_json() for p in schema]


def validate_params(schema: tuple[Param, ...] | list[Param], params: dict | None) -> dict:
    """Coerce `params` to the declared types, apply defaults and check bounds/choices.
    Raises `ParamError(field, message)`; unknown names are errors too."""
    params = dict(params or {})
    known = {p.name for p in schema}
    for extra in sorted(set(params) - known):
        close = difflib.get_close_matches(extra, sorted(known), n=1)
        raise ParamError(extra, f"unknown parameter; did you mean {close[0]!r}?" if close else "unknown parameter")
    return {p.name: _coerce(p, params.get(p.name, p.default)) for p in schema}


def validate_strategy_params(spec: StrategySpec, params: dict | None) -> dict:
    """`validate_params` against the schema, then the strategy's own `check_params(values)` — its
    constraints across parameters (e.g. fast < slow). Raises `ParamError`; a `check_params` that fails
    any other way is a `StrategyError`."""
    values = validate_params(spec.params, params)
    if spec.check_params is not None:
        try:
            spec.check_params(dict(values))
        except ParamError:
            raise
        except Exception as exc:
            raise StrategyError(f"check_params failed: {type(exc).__name__}: {exc}") from exc
    return values


def _coerce(p: Param, value: Any) -> Any:
    try:
        value = _convert(p.type, value)
    except (TypeError, ValueError) as exc:
        raise ParamError(p.name, f"expected {PARAM_TYPES[p.type]}, got {value!r}") from exc
    if p.choices is not None and value not in p.choices:
        raise ParamError(p.name, f"must be one of {list(p.choices)}")
    if p.min is not None and value < p.min:
        raise ParamError(p.name, f"must be >= {p.min}")
    if p.max is not None and value > p.max:
        raise ParamError(p.name, f"must be <= {p.max}")
    return value


def _convert(kind: type, value: Any) -> Any:
    if kind is bool:
        if isinstance(value, str):
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return value.lower() in ("true", "1", "yes")
        return bool(value)
    if kind is int:
        number = float(value)
        if not number.is_integer():
            raise ValueError(value)
        return int(number)
    if kind is float:
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(value)
        return number
    return str(value)


def check_targets(frame: Any) -> pl.DataFrame:
    """Validate a strategy's output frame: columns ts, symbol and exactly one of weight/shares."""
    if not isinstance(frame, pl.DataFrame):
        raise StrategyError(f"generate must return a polars DataFrame, got {type(frame).__name__}")
    if frame.columns in (["ts", "symbol", "weight"], ["ts", "symbol", "shares"]) and frame.dtypes[2] == pl.Float64:
        return frame
    kinds = [c for c in ("weight", "shares") if c in frame.columns]
    missing = [c for c in ("ts", "symbol") if c not in frame.columns]
    if missing or len(kinds) != 1:
        raise StrategyError("targets need columns ts, symbol and one of weight/shares")
    return frame.select("ts", "symbol", pl.col(kinds[0]).cast(pl.Float64))


def _with_fields(spec: StrategySpec, bars: pl.DataFrame, given: pl.DataFrame | None = None) -> pl.DataFrame:
    """The bars with the fields `spec` declares (see `quant.fundamentals.strategy_frame`); StrategyError
    naming the missing ones."""
    try:
        return strategy_frame(bars, spec.fields, given)
    except FieldError as exc:
        raise StrategyError(str(exc)) from None


def compute_targets(
    spec: StrategySpec, bars: pl.DataFrame, params: dict | None, *, given: pl.DataFrame | None = None
) -> pl.DataFrame:
    """Validate `params` and run the strategy's `generate` over `bars` (a contract frame); the fields it
    declares (`FIELDS`) come from `bars` or from `given` (the frame before `normalize_bars`)."""
    if spec.event is not None:
        return compute_targets_grid(spec, bars, [params or {}])[0]
    values = validate_strategy_params(spec, params)
    return check_targets(spec.generate(_with_fields(spec, bars, given), values))


def compute_targets_grid(
    spec: StrategySpec,
    bars: pl.DataFrame,
    param_sets: list[dict],
    config: Any = None,
    instruments: Any = None,
    *,
    given: pl.DataFrame | None = None,
) -> list[pl.DataFrame]:
    """Targets for many parameter sets; uses `generate_grid` when the strategy defines it. For an
    event-driven strategy: its order stream per set, simulated with `config` (an `EngineConfig`, or its
    `model_dump()` rebuilt as a `quant.config_light.LightConfig`; default preset when None) and `instruments`.
    Declared `FIELDS` come from `bars` or `given` (the frame before `normalize_bars`)."""
    sets = [validate_strategy_params(spec, p) for p in param_sets]
    if spec.event is not None:
        from quant.config_light import LightConfig
        from quant.event import order_streams

        if isinstance(config, dict):  # the platform's validated dump (the confined child): no pydantic here
            config = LightConfig.from_dump(config)
        return order_streams(spec, bars, sets, config, instruments, given=given)  # normalised there
    bars = _with_fields(spec, bars, given)
    if spec.generate_grid is None:
        return [check_targets(spec.generate(bars, p)) for p in sets]
    frames = spec.generate_grid(bars, sets)
    if len(frames) != len(sets):
        raise StrategyError("generate_grid must return one frame per parameter set")
    return [check_targets(f) for f in frames]


def compute_weight_rows(
    spec: StrategySpec, bars: pl.DataFrame, sets: list[dict], universe: int | None = None, runs=None
):
    """Fast path for strategies with `generate_arrays`: weights per combination and bar row, shape
    (C, rows), for validated parameter sets; None when the strategy has no array entry points.
    `universe` = symbols sharing one account (None: all of them; 1: every symbol on its own); `runs`:
    the symbol runs of `bars` when the caller has them (`Columns`)."""
    if spec.generate_arrays is None:
        return None
    cols = Columns(bars, universe, runs)
    if len(sets) > 1 and spec.generate_grid_arrays is not None:
        out = np.asarray(spec.generate_grid_arrays(cols, sets), dtype=np.float64)
    else:
        rows = [np.asarray(spec.generate_arrays(cols, p), dtype=np.float64) for p in sets]
        out = rows[0][None] if len(rows) == 1 and rows[0].ndim == 1 else np.stack(rows)  # a view, not a copy
    if out.shape != (len(sets), bars.height):
        raise StrategyError("generate_arrays must return one weight per bar row and parameter set")
    return out
