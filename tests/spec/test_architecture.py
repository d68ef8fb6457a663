"""The architecture the import-linter contracts pin, checked for completeness.

- Every context lists what other contexts may import of it in one place (`PUBLISHED_MODULES` in its
  `__init__`), and its "publishes only its surface" contract protects exactly every other module (a new
  module is private unless it is published on purpose).
- No context keeps its environment in module globals (`configure()` / `current()` / `install()`), and no
  context reaches another by import path at run time (`importlib.import_module` of another context).
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
CONTEXTS = ("user_auth", "market_data", "strategy_management", "job_orchestration", "backtest", "monitoring")
CONTRACTS = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]["contracts"]


def _private_modules(context: str) -> set[str]:
    package = importlib.import_module(context)
    published = set(package.PUBLISHED_MODULES)
    private = {f"{context}.{m.name}" for m in pkgutil.iter_modules(package.__path__) if m.name not in published}
    service = importlib.import_module(f"{context}.service")
    if hasattr(service, "__path__"):  # a service package: other contexts call `<ctx>.service`, not its modules
        private |= {f"{context}.service.{m.name}" for m in pkgutil.iter_modules(service.__path__)}
    return private


@pytest.mark.parametrize("context", CONTEXTS)
def test_every_module_is_published_or_protected(context: str) -> None:
    [contract] = [c for c in CONTRACTS if c["name"].startswith(f"{context} publishes only its surface")]
    assert contract["type"] == "protected"
    assert set(contract["allowed_importers"]) == {context, "huice"}
    assert set(contract["protected_modules"]) == _private_modules(context)
    published = importlib.import_module(context).PUBLISHED_MODULES
    assert {"service", "schemas", "config"} <= set(published)


@pytest.mark.parametrize("context", CONTEXTS)
def test_the_published_service_lists_its_functions(context: str) -> None:
    service = importlib.import_module(f"{context}.service")
    assert service.__all__, f"{context}.service publishes nothing"
    assert all(hasattr(service, name) for name in service.__all__)


@pytest.mark.parametrize("context", CONTEXTS)
def test_a_context_takes_its_env_explicitly(context: str) -> None:
    config = importlib.import_module(f"{context}.config")
    assert callable(getattr(config, "env_of", None)), f"{context}.config has no env_of(container)"
    for name in ("configure", "current", "install"):
        assert not hasattr(config, name), f"{context}.config.{name} keeps a process global"
    for path in (ROOT / "libs" / context).rglob("*.py"):
        text = path.read_text(encoding="utf-8")
        assert not re.search(r"^def (configure|current|install)\(", text, re.M), path
        for target in re.findall(r"import_module\(\s*f?[\"']([a-z_]+)", text):
            assert target in (context, *_stdlib_or_third_party()), f"{path} imports {target} by path"


def _stdlib_or_third_party() -> tuple[str, ...]:
    return ("polars", "numpy", "math", "statistics", "datetime", "quant")
