"""Every setting of huice, documented from the settings classes themselves (`huice config`)."""

from __future__ import annotations

import importlib
from typing import Any

from pydantic import AliasChoices, SecretStr
from pydantic_settings import BaseSettings

SETTINGS_CLASSES = [
    ("platform_core.settings", "CoreSettings"),
    ("user_auth.config", "UserAuthSettings"),
    ("market_data.config", "MarketDataSettings"),
    ("strategy_management.config", "StrategySettings"),
    ("job_orchestration.config", "JobSettings"),
    ("backtest.config", "BacktestSettings"),
    ("monitoring.config", "MonitoringSettings"),
]


def _classes() -> list[type[BaseSettings]]:
    found = []
    for module, name in SETTINGS_CLASSES:
        try:
            found.append(getattr(importlib.import_module(module), name))
        except (ImportError, AttributeError):
            continue
    return found


def _default(field: Any) -> str:
    value = field.get_default(call_default_factory=True)
    if isinstance(value, SecretStr):
        return "(dev default; must be set in production)"
    if value is None:
        return "—"
    if hasattr(value, "value"):
        value = value.value
    return str(value)


def _env_names(prefix: str, name: str, field: Any) -> str:
    alias = field.validation_alias
    if isinstance(alias, str):
        return alias.upper()
    if isinstance(alias, AliasChoices):
        names = [c for c in alias.choices if isinstance(c, str) and c.isupper()]
        if names:
            return " / ".join(names)
    return f"{prefix}{name}".upper()


def settings_table() -> list[dict[str, str]]:
    """One row per environment variable: name, default, meaning."""
    rows = []
    for cls in _classes():
        prefix = cls.model_config.get("env_prefix", "")
        for name, field in cls.model_fields.items():
            if name == "secret_key" and cls.__name__ != "CoreSettings":
                continue  # passed in from HUICE_SECRET_KEY by the composition root
            rows.append(
                {
                    "variable": _env_names(prefix, name, field),
                    "default": _default(field),
                    "meaning": field.description or "",
                }
            )
    return rows


def markdown() -> str:
    lines = ["| variable | default | meaning |", "| --- | --- | --- |"]
    lines += [f"| `{r['variable']}` | {r['default']} | {r['meaning']} |" for r in settings_table()]
    return "\n".join(lines)
