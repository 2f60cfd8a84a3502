"""Limit/offset pagination with a total, and the page model lists return."""

from __future__ import annotations

from typing import Annotated, Generic, TypeVar

from fastapi import Depends, Query
from pydantic import BaseModel, Field

T = TypeVar("T")
MAX_LIMIT = 500
MAX_OFFSET = 1_000_000


class PageParams(BaseModel):
    limit: int
    offset: int


PageLimit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="items per page")]
PageOffset = Annotated[int, Query(ge=0, le=MAX_OFFSET, description="items to skip")]
# The same bounds as fields of a query model (`slm_shared.web.query`).
PageLimitField = Annotated[int, Field(ge=1, le=MAX_LIMIT, description="items per page")]
PageOffsetField = Annotated[int, Field(ge=0, le=MAX_OFFSET, description="items to skip")]


async def page_params(limit: PageLimit = 50, offset: PageOffset = 0) -> PageParams:
    """A coroutine: FastAPI would run a plain function in a worker thread, per request."""
    return PageParams(limit=limit, offset=offset)


PageDep = Annotated[PageParams, Depends(page_params)]


class Page(BaseModel, Generic[T]):
    """One page of a list, with the total number of matching items."""

    items: list[T]
    total: int
    limit: int
    offset: int
