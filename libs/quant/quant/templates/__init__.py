"""Built-in strategy templates: real strategy source files loaded through `load_strategy`."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from pathlib import Path

from quant.strategy import StrategySpec, load_engine_strategy, schema_to_json, source_hash

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


@dataclass(frozen=True)
class TemplateInfo:
    """A template as users browse it."""

    name: str
    title: str
    doc: str
    source: str
    params: list[dict]

    def to_json(self) -> dict:
        """JSON-serialisable form."""
        return {"name": self.name, "title": self.title, "doc": self.doc, "source": self.source, "params": self.params}


@cache
def load_template(name: str) -> StrategySpec:
    """The loaded `StrategySpec` of a template (cached)."""
    if name not in TEMPLATE_NAMES:
        raise KeyError(name)
    return load_engine_strategy((TEMPLATE_DIR / f"{name}.py").read_text(encoding="utf-8"), name=name)


def get_template(name: str) -> TemplateInfo:
    """Name, title, doc, source and parameter schema of one template; KeyError if unknown."""
    spec = load_template(name)
    title = spec.doc.splitlines()[0].rstrip(".") if spec.doc else name
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
