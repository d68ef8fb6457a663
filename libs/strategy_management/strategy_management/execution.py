"""Use cases that execute strategy code — always through the confined runner, never in this process.

- `check_source`: size limit, syntax, static allow-list (no execution).
- `describe`: the parameter schema and doc of a source, read by running its module in the runner.
- `run_targets`: targets for parameter sets (the backtest job calls this through `service`).
"""

from __future__ import annotations

import ast
import logging

import polars as pl

from platform_core.errors import InvalidInput, PayloadTooLarge
from strategy_management import config, domain
from strategy_management.runner import StrategyRuntimeError, execute

log = logging.getLogger(__name__)

_DESCRIBE_CACHE_SIZE = 256
# The schema of a source depends on nothing but the source (and the installed engine), so it is cached
# per process by content hash: saving the same code twice runs it once.
_describe_cache: dict[str, dict] = {}


def check_source(source: str) -> ast.Module:
    """Refuse oversized sources (413), syntax errors and allow-list violations (INVALID_INPUT, with lines)."""
    limit = config.current().settings.strategy_max_source_bytes
    size = len(source.encode())
    if size > limit:
        raise PayloadTooLarge(
            f"strategy source is {size} bytes, above the {limit}-byte limit",
            details={"field": "source", "limit_bytes": limit, "size_bytes": size},
        )
    try:
        tree = domain.parse(source)
    except domain.SourceSyntaxError as exc:
        where = f"line {exc.line}, column {exc.column}" if exc.line else "the source"
        raise InvalidInput(
            f"syntax error at {where}: {exc.message}",
            field="source",
            details={"line": exc.line, "column": exc.column, "kind": "syntax"},
        ) from None
    violations = domain.check_source(tree)
    if violations:
        first = violations[0]
        more = f" (and {len(violations) - 1} more)" if len(violations) > 1 else ""
        raise InvalidInput(
            f"source refused at line {first.line}: {first.message}{more}",
            field="source",
            details={
                "line": first.line,
                "column": first.column,
                "kind": "forbidden",
                "violations": [v.to_json() for v in violations],
            },
        )
    return tree


def describe(source: str, tree: ast.Module) -> dict:
    """`{"params": [...], "doc": str, "grid": bool}` of a checked source; schema errors → INVALID_INPUT
    with the user's line and column."""
    env = config.current()
    digest = domain.content_hash(source)
    cached = _describe_cache.get(digest)
    if cached is not None:
        return cached
    runner = env.runner.with_timeout(env.settings.strategy_validate_seconds)
    try:
        result = execute("describe", source, runner).result
    except StrategyRuntimeError as exc:
        raise _schema_error(exc, tree) from None
    if len(_describe_cache) >= _DESCRIBE_CACHE_SIZE:
        _describe_cache.pop(next(iter(_describe_cache)))
    _describe_cache[digest] = result
    return result


def _schema_error(exc: StrategyRuntimeError, tree: ast.Module) -> InvalidInput:
    details = dict(exc.details)
    field = details.pop("field", None)
    if field:
        details["param"] = field
        details.setdefault("line", domain.param_lines(tree).get(field))
    details.setdefault("line", None)
    details.setdefault("column", None)
    where = f" at line {details['line']}" if details["line"] else ""
    return InvalidInput(f"strategy refused{where}: {exc.message}", field="source", details=details)


def run_targets(
    version_source: str, bars: pl.DataFrame, param_sets: list[dict], *, timeout_s: float | None = None
) -> list[pl.DataFrame]:
    """Targets (`ts, symbol, weight|shares`) of `version_source` for each parameter set, computed in the
    confined runner. Raises `StrategyRuntimeError` (INVALID_INPUT, details `{"kind", "traceback"}`)."""
    try:
        check_source(version_source)
    except PayloadTooLarge as exc:
        raise StrategyRuntimeError(exc.message, kind="error") from None
    except InvalidInput as exc:
        lines = [f"line {v['line']}: {v['message']}" for v in exc.details.get("violations", [])]
        raise StrategyRuntimeError(exc.message, kind="forbidden", traceback=lines or [exc.message]) from None
    runner = config.current().runner.with_timeout(timeout_s)
    return execute("targets", version_source, runner, bars=bars, param_sets=param_sets).frames
