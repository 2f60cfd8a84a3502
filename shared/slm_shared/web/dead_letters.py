"""Dead-letter records: list them and replay one through its consumer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel
from sqlalchemy import func, select
from sqlmodel import col

from slm_shared.bus.inbox import Consumer
from slm_shared.bus.models import DeadLetter
from slm_shared.errors import PROBLEM_RESPONSES, Conflict, NotFound
from slm_shared.web.bounds import PathInt
from slm_shared.web.deps import AdminDep, SessionDep
from slm_shared.web.pagination import Page, PageDep

router = APIRouter(prefix="/v1/dead-letters", tags=["operations"], responses=PROBLEM_RESPONSES)


class DeadLetterPublic(BaseModel):
    id: int
    consumer: str
    stream: str
    subject: str
    event_id: str | None
    event_type: str | None
    headers: dict[str, Any]
    body: str
    error: str
    deliveries: int
    created_at: datetime
    replayed_at: datetime | None


@router.get("", response_model=Page[DeadLetterPublic])
async def list_dead_letters(
    principal: AdminDep, session: SessionDep, page: PageDep, pending_only: bool = False
) -> Page[DeadLetterPublic]:
    """Messages that could not be applied, newest first."""
    query = select(DeadLetter).where(col(DeadLetter.tenant) == principal.tenant)
    if pending_only:
        query = query.where(col(DeadLetter.replayed_at).is_(None))
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(query.order_by(col(DeadLetter.id).desc()).limit(page.limit).offset(page.offset))
    items = [DeadLetterPublic.model_validate(row, from_attributes=True) for row in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.post("/{dead_letter_id}/replay", response_model=DeadLetterPublic)
async def replay_dead_letter(dead_letter_id: PathInt, principal: AdminDep, request: Request) -> DeadLetterPublic:
    """Apply a dead letter's event again (once: an event already applied changes nothing)."""
    consumer: Consumer | None = request.app.state.consumer
    if consumer is None:
        raise NotFound("This service consumes no events")
    try:
        letter = await consumer.replay(dead_letter_id, tenant=principal.tenant)
    except LookupError as exc:
        raise NotFound(f"No dead letter {dead_letter_id}") from exc
    except Exception as exc:
        raise Conflict(f"The replay failed again: {exc!r}") from exc
    return DeadLetterPublic.model_validate(letter, from_attributes=True)
