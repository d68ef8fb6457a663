"""Pure rules of strategy_management: the static allow-list check, content hashes, parameter validation
against a stored schema, diffs, sample bars for dry runs, and the export file format.

The static check names every violation with its line; it is a usability aid, not the security boundary
(that is the confined runner).
"""

from __future__ import annotations

import ast
import difflib
import hashlib
import math
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any

import polars as pl

from quant.strategy import is_allowed_import
from quant.synthetic import with_fundamentals
from strategy_management.sandbox.guards import INTROSPECTION_ATTRS

FORBIDDEN_NAMES = frozenset(
    {
        "exec",
        "eval",
        "compile",
        "open",
        "__import__",
        "globals",
        "locals",
        "vars",
        "input",
        "breakpoint",
        "help",
        "exit",
        "quit",
        "memoryview",
        "__builtins__",
        "__loader__",
        "__spec__",
        "setattr",
        "delattr",
    }
)
DYNAMIC_ATTR_FUNCS = frozenset({"getattr", "hasattr"})
# Attribute getters reachable as attributes of allowed modules (`numpy.core.numeric.operator.attrgetter`, ...):
# they take the attribute name as a string, so no use of them is allowed at all.
DYNAMIC_ATTR_ATTRS = frozenset(
    {"attrgetter", "methodcaller", "getattr", "setattr", "delattr", "hasattr", "getattr_static", "getmembers"}
)
EXPORT_FORMAT = "huice.strategy/v1"


@dataclass(frozen=True)
class Violation:
    line: int
    column: int
    message: str

    def to_json(self) -> dict[str, Any]:
        return {"line": self.line, "column": self.column, "message": self.message}


class SourceSyntaxError(ValueError):
    def __init__(self, line: int | None, column: int | None, message: str) -> None:
        super().__init__(message)
        self.line, self.column, self.message = line, column, message


def content_hash(source: str) -> str:
    """sha256 of the UTF-8 source, as the engine writes it into run manifests."""
    return "sha256:" + hashlib.sha256(source.encode()).hexdigest()


def parse(source: str) -> ast.Module:
    try:
        return ast.parse(source, filename="<strategy>")
    except SyntaxError as exc:
        raise SourceSyntaxError(exc.lineno, exc.offset, exc.msg) from None
    except ValueError as exc:  # e.g. null bytes
        raise SourceSyntaxError(None, None, str(exc)) from None


def _is_dunder(name: str) -> bool:
    return name.startswith("__") and name.endswith("__")


class _Checker(ast.NodeVisitor):
    def __init__(self) -> None:
        self.found: list[Violation] = []

    def flag(self, node: ast.AST, message: str) -> None:
        self.found.append(Violation(getattr(node, "lineno", 1), getattr(node, "col_offset", 0) + 1, message))

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            if not is_allowed_import(alias.name):
                self.flag(node, f"import of {alias.name!r} is not allowed")

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            self.flag(node, "relative imports are not allowed")
        elif not is_allowed_import(node.module or ""):
            self.flag(node, f"import of {node.module!r} is not allowed")
        for alias in node.names:
            if alias.name == "*" or _is_dunder(alias.name):
                self.flag(node, f"importing {alias.name!r} is not allowed")

    def visit_Attribute(self, node: ast.Attribute) -> None:
        if _is_dunder(node.attr):
            self.flag(node, f"dunder attribute access {node.attr!r} is not allowed")
        elif node.attr in INTROSPECTION_ATTRS:
            self.flag(node, f"frame/generator introspection {node.attr!r} is not allowed")
        elif node.attr in DYNAMIC_ATTR_ATTRS:
            self.flag(node, f"dynamic attribute access through {node.attr!r} is not allowed")
        self.generic_visit(node)

    def visit_Name(self, node: ast.Name) -> None:
        if node.id in FORBIDDEN_NAMES:
            self.flag(node, f"{node.id!r} is not allowed")
        elif node.id in DYNAMIC_ATTR_FUNCS:  # a direct call is checked in visit_Call
            self.flag(node, f"{node.id} may only be called directly, with a constant attribute name")
        elif _is_dunder(node.id) and node.id not in ("__name__", "__doc__"):
            self.flag(node, f"dunder name {node.id!r} is not allowed")

    def visit_Constant(self, node: ast.Constant) -> None:
        if isinstance(node.value, str) and node.value in INTROSPECTION_ATTRS:
            self.flag(node, f"the string {node.value!r} names a frame/generator attribute, which is not allowed")

    def visit_Call(self, node: ast.Call) -> None:
        func = node.func
        if isinstance(func, ast.Name) and func.id in DYNAMIC_ATTR_FUNCS:
            self._check_dynamic_name(node, func.id)
            for child in [*node.args[:1], *node.args[2:], *node.keywords]:  # the name itself is checked above
                self.visit(child)
            if len(node.args) > 1 and not isinstance(node.args[1], ast.Constant):
                self.visit(node.args[1])
            return
        self.generic_visit(node)

    def _check_dynamic_name(self, node: ast.Call, func: str) -> None:
        """`getattr(x, "name")` is checked exactly like `x.name`; any other name is refused."""
        name = node.args[1] if len(node.args) > 1 else None
        if not (isinstance(name, ast.Constant) and isinstance(name.value, str)) or node.keywords:
            self.flag(node, f"{func}() with a computed attribute name is not allowed")
        elif _is_dunder(name.value):
            self.flag(node, f"{func}() of the dunder attribute {name.value!r} is not allowed")
        elif name.value.startswith("_"):
            self.flag(node, f"{func}() of the private attribute {name.value!r} is not allowed")
        elif name.value in INTROSPECTION_ATTRS:
            self.flag(node, f"{func}() of the frame/generator attribute {name.value!r} is not allowed")
        elif name.value in DYNAMIC_ATTR_ATTRS:
            self.flag(node, f"{func}() of {name.value!r} is not allowed")


def check_source(tree: ast.Module) -> list[Violation]:
    """Every allow-list violation, in source order, plus a missing model: a strategy defines either
    `generate(bars, params)` (vectorised) or `handle_bar(context, bar)` / JoinQuant's `handle_data`
    (event-driven), not both."""
    checker = _Checker()
    checker.visit(tree)
    defines = {n.name: n for n in tree.body if isinstance(n, ast.FunctionDef)}
    event = [defines[n] for n in EVENT_ENTRY_POINTS if n in defines]
    if "generate" not in defines and not event:
        checker.found.append(Violation(1, 1, MISSING_MODEL))
    elif "generate" in defines and event:
        line = max(defines["generate"].lineno, event[0].lineno)
        checker.found.append(Violation(line, 1, BOTH_MODELS))
    return sorted(checker.found, key=lambda v: (v.line, v.column))


EVENT_ENTRY_POINTS = ("handle_bar", "handle_data")
MISSING_MODEL = (
    "the strategy must define a function generate(bars, params) (vectorised) or handle_bar(context, bar) (event-driven)"
)
BOTH_MODELS = (
    "the strategy defines both generate(bars, params) (vectorised) and handle_bar(context, bar) "
    "(event-driven); keep one model"
)


def param_lines(tree: ast.Module) -> dict[str, int]:
    """Line of each `param("<name>", ...)` declaration (to point schema errors at the user's line)."""
    lines: dict[str, int] = {}
    for node in ast.walk(tree):
        if (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name | ast.Attribute)
            and (getattr(node.func, "id", None) or getattr(node.func, "attr", None)) == "param"
            and node.args
            and isinstance(node.args[0], ast.Constant)
            and isinstance(node.args[0].value, str)
        ):
            lines.setdefault(node.args[0].value, node.lineno)
    return lines


# ---------------------------------------------------------------------------------------------------------
# Parameters against a stored schema (the same rules as the engine's `validate_params`)


class ParamValueError(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field, self.message = field, message


_TYPE_NAMES = {"int": "int", "float": "float", "bool": "bool", "str": "str"}


def validate_params(schema: list[dict[str, Any]], params: dict[str, Any] | None) -> dict[str, Any]:
    """Coerce to the declared types, apply defaults, check bounds and choices; unknown names are errors."""
    params = dict(params or {})
    known = {p["name"] for p in schema}
    for extra in sorted(set(params) - known):
        close = difflib.get_close_matches(extra, sorted(known), n=1)
        raise ParamValueError(extra, f"unknown parameter; did you mean {close[0]!r}?" if close else "unknown parameter")
    return {p["name"]: _coerce(p, params.get(p["name"], p.get("default"))) for p in schema}


def _coerce(p: dict[str, Any], value: Any) -> Any:
    kind = p.get("type", "float")
    try:
        value = _convert(kind, value)
    except (TypeError, ValueError):
        raise ParamValueError(p["name"], f"expected {_TYPE_NAMES.get(kind, kind)}, got {value!r}") from None
    if p.get("choices") is not None and value not in p["choices"]:
        raise ParamValueError(p["name"], f"must be one of {list(p['choices'])}")
    if p.get("min") is not None and value < p["min"]:
        raise ParamValueError(p["name"], f"must be >= {p['min']}")
    if p.get("max") is not None and value > p["max"]:
        raise ParamValueError(p["name"], f"must be <= {p['max']}")
    return value


def _convert(kind: str, value: Any) -> Any:
    if kind == "bool":
        if isinstance(value, str):
            if value.lower() not in ("true", "false", "1", "0", "yes", "no"):
                raise ValueError(value)
            return value.lower() in ("true", "1", "yes")
        return bool(value)
    if kind == "int":
        number = float(value)
        if not number.is_integer():
            raise ValueError(value)
        return int(number)
    if kind == "float":
        number = float(value)
        if not math.isfinite(number):
            raise ValueError(value)
        return number
    return str(value)


# ---------------------------------------------------------------------------------------------------------
# Diffs, sample data, export


def source_diff(old: str, new: str, old_label: str, new_label: str) -> list[str]:
    """Unified diff lines (without trailing newlines)."""
    return [
        line.rstrip("\n")
        for line in difflib.unified_diff(
            old.splitlines(keepends=True), new.splitlines(keepends=True), old_label, new_label
        )
    ]


def params_diff(old: list[dict[str, Any]], new: list[dict[str, Any]]) -> dict[str, Any]:
    """Parameters added, removed and changed (field by field) between two schemas."""
    before, after = {p["name"]: p for p in old}, {p["name"]: p for p in new}
    changed = {
        name: {
            k: [before[name].get(k), after[name].get(k)]
            for k in sorted(set(before[name]) | set(after[name]))
            if before[name].get(k) != after[name].get(k)
        }
        for name in sorted(set(before) & set(after))
    }
    return {
        "added": sorted(set(after) - set(before)),
        "removed": sorted(set(before) - set(after)),
        "changed": {k: v for k, v in changed.items() if v},
    }


def sample_bars(
    symbols: tuple[str, ...] = ("600000.SH", "000001.SZ"), sessions: int = 120, fields: tuple[str, ...] = ()
) -> pl.DataFrame:
    """A small deterministic bar frame (minimal contract columns) for dry runs: weekdays from 2024-01-02,
    a gentle sine-and-trend price path per symbol; with `fields`, the fundamentals a strategy declares."""
    days: list[date] = []
    day = date(2024, 1, 2)
    while len(days) < sessions:
        if day.weekday() < 5:
            days.append(day)
        day += timedelta(days=1)
    rows: dict[str, list] = {k: [] for k in ("symbol", "date", "ts", "open", "high", "low", "close", "volume")}
    for s, symbol in enumerate(symbols):
        for i, d in enumerate(days):
            close = round(10.0 + 2 * s + 0.02 * i + math.sin(i / (5 + s)) * (1 + s * 0.5), 2)
            rows["symbol"].append(symbol)
            rows["date"].append(d)
            rows["ts"].append(datetime(d.year, d.month, d.day, 15))
            rows["open"].append(round(close * 0.998, 2))
            rows["high"].append(round(close * 1.01, 2))
            rows["low"].append(round(close * 0.99, 2))
            rows["close"].append(close)
            rows["volume"].append(1_000_000.0 + 1000 * i)
    bars = pl.DataFrame(rows).with_columns(pl.col("ts").cast(pl.Datetime("us")))
    return with_fundamentals(bars, fields) if fields else bars  # so a strategy declaring FIELDS dry-runs
