"""Artifacts: one artifact of a finished run, converted to the download format asked for; the `report` is
the run's self-contained HTML report (`service.reports`), generated on first request for older runs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

import polars as pl
from sqlalchemy.orm import Session

from backtest.config import BacktestEnv
from backtest.domain import (
    ARTIFACT_TYPES,
    FORMAT_MEDIA,
    HEADER_LANGUAGES,
    convert,
    default_format,
    formats_of,
    metrics_frame,
)
from backtest.service._common import owned_run
from backtest.service.reports import run_report
from platform_core.errors import InvalidInput, NotFound
from user_auth.principal import Principal


@dataclass(frozen=True)
class Download:
    filename: str
    media_type: str
    content: bytes


def artifact(
    session: Session,
    env: BacktestEnv,
    principal: Principal,
    run_id: uuid.UUID,
    kind: str,
    fmt: str | None = None,
    *,
    headers: str = "en",
) -> Download:
    """One artifact of a finished run: a table as csv (UTF-8 with BOM, header), json (array of rows), parquet
    (the stored file) or xlsx (one typed sheet) — default csv; `headers="zh"` names csv/xlsx columns in
    Chinese; `metrics` is the run's scalar metrics as a table; the `report` is html (its only format).
    Share counts are integers; on a daily run filled at the next open, orders and fills carry the session
    `date` only (see `domain.presentable`)."""
    if kind not in ARTIFACT_TYPES:
        raise InvalidInput(f"unknown artifact type {kind!r}", field="type", details={"allowed": list(ARTIFACT_TYPES)})
    fmt = fmt or default_format(kind)
    if fmt not in FORMAT_MEDIA:
        raise InvalidInput(f"unknown format {fmt!r}", field="format", details={"allowed": list(FORMAT_MEDIA)})
    if fmt not in formats_of(kind):
        raise InvalidInput(
            f"the {kind} artifact has no {fmt} format", field="format", details={"allowed": list(formats_of(kind))}
        )
    if headers not in HEADER_LANGUAGES:
        raise InvalidInput(f"unknown headers {headers!r}", field="headers", details={"allowed": list(HEADER_LANGUAGES)})
    if kind == "report":
        return Download(*run_report(session, env, principal, run_id))
    row = owned_run(session, principal, run_id)
    if kind == "metrics":
        source: bytes | pl.DataFrame | None = metrics_frame(row.metrics) if row.metrics is not None else None
    else:
        ref = (row.artifacts or {}).get(kind)
        source = env.store.get(ref["key"]) if ref is not None else None
    if source is None:
        raise NotFound(
            f"run has no {kind} artifact yet (artifacts exist once it succeeds)",
            details={"run_id": str(run_id), "type": kind},
        )
    content = convert(source, fmt, headers=headers, daily_open_fills=_daily_open_fills(row.manifest))
    return Download(filename=f"{run_id}-{kind}.{fmt}", media_type=FORMAT_MEDIA[fmt], content=content)


def _daily_open_fills(manifest: dict[str, Any] | None) -> bool:
    """A run on daily bars filled at the next session's open (the default)."""
    manifest = manifest or {}
    fill = manifest.get("fill") or (manifest.get("config") or {}).get("fill")
    return (manifest.get("data") or {}).get("frequency") == "1d" and fill == "next_open"
