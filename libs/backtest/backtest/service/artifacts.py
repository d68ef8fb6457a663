"""Artifacts: one artifact of a finished run, converted to the download format asked for."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from sqlalchemy.orm import Session

from backtest.config import BacktestEnv
from backtest.domain import ARTIFACT_TYPES, FORMAT_MEDIA, convert
from backtest.service._common import owned_run
from platform_core.errors import InvalidInput, NotFound
from user_auth.principal import Principal


@dataclass(frozen=True)
class Download:
    filename: str
    media_type: str
    content: bytes


def artifact(
    session: Session, env: BacktestEnv, principal: Principal, run_id: uuid.UUID, kind: str, fmt: str
) -> Download:
    """One artifact of a finished run as csv (UTF-8, header), json (array of rows) or parquet."""
    if kind not in ARTIFACT_TYPES:
        raise InvalidInput(f"unknown artifact type {kind!r}", field="type", details={"allowed": list(ARTIFACT_TYPES)})
    if fmt not in FORMAT_MEDIA:
        raise InvalidInput(f"unknown format {fmt!r}", field="format", details={"allowed": list(FORMAT_MEDIA)})
    row = owned_run(session, principal, run_id)
    ref = (row.artifacts or {}).get(kind)
    if ref is None:
        raise NotFound(
            f"run has no {kind} artifact yet (artifacts exist once it succeeds)",
            details={"run_id": str(run_id), "type": kind},
        )
    content = convert(env.store.get(ref["key"]), fmt)
    return Download(filename=f"{run_id}-{kind}.{fmt}", media_type=FORMAT_MEDIA[fmt], content=content)
