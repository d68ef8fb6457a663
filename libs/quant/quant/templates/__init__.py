"""Built-in strategy templates: real strategy source files loaded through `load_strategy`."""

from __future__ import annotations

from functools import cache
from importlib.machinery import SourceFileLoader
from pathlib import Path
from types import CodeType
from typing import TYPE_CHECKING

from quant.strategy import StrategySpec, load_engine_strategy, schema_to_json, source_hash

if TYPE_CHECKING:
    from quant.templates.info import TemplateInfo

TEMPLATE_DIR = Path(__file__).parent
TEMPLATE_NAMES = (
    "ma_cross",
    "rsi_reversion",
    "bollinger_breakout",
    "macd",
    "momentum_rotation",
    "ma_cross_event",
    "ma_cross_port",
    "value_rotation",
)


def __getattr__(name: str):
    """`TemplateInfo` on first use (PEP 562, `quant.templates.info`): creating a named tuple's class
    compiles its string annotations and its `__new__` (~0.2 ms and fresh pages), which a run's first call,
    importing this module to load its template, does not need."""
    if name == "TemplateInfo":
        from quant.templates.info import TemplateInfo

        return TemplateInfo
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


@cache
def load_template(name: str) -> StrategySpec:
    """The loaded `StrategySpec` of a template (cached)."""
    if name not in TEMPLATE_NAMES:
        raise KeyError(name)
    path = TEMPLATE_DIR / f"{name}.py"
    return load_engine_strategy(path.read_text(encoding="utf-8"), name=name, code=_template_code(path, name))


def _template_code(path: Path, name: str) -> CodeType:
    """The template's module code through the import system's bytecode cache (`__pycache__`, written by
    `make install`, checked against the source's mtime and size; compiled from the source without one),
    renamed to the strategy's file name `name`, by which `user_error` finds the strategy's frames.
    Compiling the source costs a first run ~0.7 ms; reading the cached code ~0.05 ms."""
    module = f"{__name__}.{name}"
    return _renamed(SourceFileLoader(module, str(path)).get_code(module), name)


def _renamed(code: CodeType, filename: str) -> CodeType:
    consts = tuple(_renamed(c, filename) if isinstance(c, CodeType) else c for c in code.co_consts)
    return code.replace(co_filename=filename, co_consts=consts)


def get_template(name: str) -> TemplateInfo:
    """Name, title, doc, source and parameter schema of one template; KeyError if unknown."""
    spec = load_template(name)
    title = spec.doc.splitlines()[0].rstrip(".") if spec.doc else name
    from quant.templates.info import TemplateInfo

    return TemplateInfo(name, title, spec.doc, spec.source, schema_to_json(spec.params))


def list_templates() -> list[TemplateInfo]:
    """Every built-in template."""
    return [get_template(n) for n in TEMPLATE_NAMES]


@cache
def _names_by_hash() -> dict[str, str]:
    return {load_template(n).source_hash: n for n in TEMPLATE_NAMES}


def template_for_source(source: str) -> StrategySpec | None:
    """The built-in template whose source is byte for byte `source` (the engine's own code), else None."""
    name = _names_by_hash().get(source_hash(source))
    return load_template(name) if name is not None else None
