"""Measurement HTTP API: the items a worker could not process, with the reason and the next try."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field

from slm_measurement import failures
from slm_shared.errors import PROBLEM_RESPONSES
from slm_shared.web.deps import SessionDep, StaffDep
from slm_shared.web.pagination import Page, PageDep

router = APIRouter(prefix="/v1", tags=["operations"], responses=PROBLEM_RESPONSES)
Kind = Literal["pending_activation", "ticket", "report"]


class FailedItem(BaseModel):
    """An item set aside after failing: the others went on without it, and it is retried alone."""

    kind: Kind = Field(description="pending_activation (an agreement version due), ticket (its clocks) or report")
    item_id: str = Field(description="the pending version's id, the ticket's id, or '<agreement_id>/<period>'")
    attempts: int = Field(description="failures so far")
    reason: str = Field(description="the error of the last attempt")
    first_failed_at: datetime
    last_failed_at: datetime
    retry_at: datetime = Field(description="when it is tried again (the wait doubles per attempt, at most an hour)")


@router.get("/failed-items", response_model=Page[FailedItem])
async def list_failed_items(
    principal: StaffDep,
    session: SessionDep,
    page: PageDep,
    kind: Annotated[Kind | None, Query(description="only items of this kind")] = None,
) -> Page[FailedItem]:
    """List the tenant's items that failed and wait to be retried alone (a success removes them)."""
    rows, total = await failures.listed(
        session, tenant=principal.tenant, kind=kind, limit=page.limit, offset=page.offset
    )
    items = [FailedItem.model_validate(row, from_attributes=True) for row in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)
