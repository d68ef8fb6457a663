"""Pagination: `limit`/`offset` query parameters in, a `Page[T]` out (items, total, limit, offset)."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel, Field

from platform_core.edge import INT64_MAX

T = TypeVar("T")

MAX_LIMIT = 200
MAX_OFFSET = INT64_MAX  # PostgreSQL's OFFSET is a bigint


class PageParams(BaseModel):
    limit: int = Field(50, ge=1, le=MAX_LIMIT)
    offset: int = Field(0, ge=0, le=MAX_OFFSET)


class Page(BaseModel, Generic[T]):
    """One page of a listing; `total` counts every match, not just this page."""

    items: list[T]
    total: int
    limit: int
    offset: int


async def page_params(
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT, description="Items per page.")] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET, description="Items to skip.")] = 0,
) -> PageParams:
    return PageParams(limit=limit, offset=offset)


PageDep = Annotated[PageParams, Depends(page_params)]
