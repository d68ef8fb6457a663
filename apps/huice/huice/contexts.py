"""The context map of the composition root: which contexts exist and how each is plugged in.

Each context publishes (by convention) `<ctx>.api:router`, `<ctx>.cli:app` and its tables' metadata in
`<ctx>.repository:metadata`; optional wiring (own settings, job kinds) goes in a `wire_<ctx>` function
here, so contexts never import the app. Adding a context = one `ContextSpec` line (+ a wire function).
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from fastapi import APIRouter
    from sqlalchemy import MetaData
    from typer import Typer

    from huice.bootstrap import Container


@dataclass(frozen=True)
class ContextSpec:
    name: str
    cli_name: str | None
    cli_help: str = ""
    has_api: bool = True
    has_tables: bool = True
    wire: Callable[[Container], None] | None = None

    def _attr(self, module: str, attr: str) -> Any:
        return getattr(importlib.import_module(f"{self.name}.{module}"), attr)

    def router(self) -> APIRouter | None:
        return self._attr("api", "router") if self.has_api else None

    def cli(self) -> Typer | None:
        return self._attr("cli", "app") if self.cli_name else None

    def metadata(self) -> MetaData | None:
        return self._attr("repository", "metadata") if self.has_tables else None


CONTEXTS: list[ContextSpec] = []


def configure_contexts(container: Container) -> None:
    """Let each context wire itself into the container (settings, job kinds) — called once at start-up."""
    for spec in CONTEXTS:
        if spec.wire is not None:
            spec.wire(container)


def all_metadata() -> list[MetaData]:
    return [md for spec in CONTEXTS if (md := spec.metadata()) is not None]
