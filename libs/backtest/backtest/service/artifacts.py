"""Artifacts: one artifact of a finished run, converted to the download format asked for; the `report` is
the run's self-contained HTML report (`service.reports`), generated on first request for older runs."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from backtest.config import BacktestEnv
from backtest.domain import ARTIFACT_TYPES, FORMAT_MEDIA, convert, default_format, formats_of
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
    session: Session, env: BacktestEnv, principal: Principal, run_id: uuid.UUID, kind: str, fmt: str | None = None
) -> Download:
    """One artifact of a finished run: a table as csv (UTF-8, header), json (array of rows) or parquet
    (default csv); the `report` as html (its only format, the default)."""
    if kind not in ARTIFACT_TYPES:
        raise InvalidInput(f"unknown artifact type {kind!r}", field="type", details={"allowed": list(ARTIFACT_TYPES)})
    fmt = fmt or default_format(kind)
    if fmt not in FORMAT_MEDIA:
        raise InvalidInput(f"unknown format {fmt!r}", field="format", details={"allowed": list(FORMAT_MEDIA)})
    if fmt not in formats_of(kind):
        raise InvalidInput(
            f"the {kind} artifact has no {fmt} format", field="format", details={"allowed": list(formats_of(kind))}
        )
    if kind == "report":
        return Download(*run_report(session, env, principal, run_id))
    row = owned_run(session, principal, run_id)
    ref = (row.artifacts or {}).get(kind)
    if ref is None:
        raise NotFound(
            f"run has no {kind} artifact yet (artifacts exist once it succeeds)",
            details={"run_id": str(run_id), "type": kind},
        )
    content = convert(env.store.get(ref["key"]), fmt)
    return Download(filename=f"{run_id}-{kind}.{fmt}", media_type=FORMAT_MEDIA[fmt], content=content)
