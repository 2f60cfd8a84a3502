"""Dead-letter records of the caller's tenant: list them, replay one, or replay those matching a filter."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Select, func, select
from sqlmodel import col

from slm_shared.bus.models import DeadLetter
from slm_shared.db import Database, utcnow
from slm_shared.errors import PROBLEM_RESPONSES, Conflict, NotFound, describe
from slm_shared.web.bounds import MAX_PATH_INT, PathInt, StorableStr
from slm_shared.web.deps import AdminDep, SessionDep
from slm_shared.web.pagination import Page, PageDep

router = APIRouter(prefix="/v1/dead-letters", tags=["operations"], responses=PROBLEM_RESPONSES)

MAX_BULK = 1000


class DeadLetterPublic(BaseModel):
    id: int
    consumer: str
    stream: str
    subject: str
    event_id: str | None
    event_type: str | None
    tenant: str | None
    headers: dict[str, Any]
    body: str
    error: str
    deliveries: int
    created_at: datetime
    replayed_at: datetime | None


class DeadLetterFilter(BaseModel):
    """Which dead letters: each given field narrows the set."""

    consumer: StorableStr | None = Field(None, max_length=64)
    event_type: StorableStr | None = Field(None, max_length=255)
    reason: StorableStr | None = Field(None, max_length=200, description="text the recorded error contains")
    pending_only: bool = Field(False, description="only those not replayed yet")


def dead_letter_filter(
    consumer: Annotated[str | None, Query(max_length=64, description="the consumer that gave up")] = None,
    event_type: Annotated[str | None, Query(max_length=255, description="the event type")] = None,
    reason: Annotated[str | None, Query(max_length=200, description="text the recorded error contains")] = None,
    pending_only: bool = False,
) -> DeadLetterFilter:
    return DeadLetterFilter(consumer=consumer, event_type=event_type, reason=reason, pending_only=pending_only)


FilterDep = Annotated[DeadLetterFilter, Depends(dead_letter_filter)]


class BulkReplay(DeadLetterFilter):
    """Replay the tenant's dead letters that match; those replayed already are left alone."""

    model_config = ConfigDict(extra="forbid")

    ids: list[Annotated[int, Field(ge=1, le=MAX_PATH_INT)]] | None = Field(
        None, min_length=1, max_length=MAX_BULK, description="only these dead letters (the other filters still apply)"
    )
    pending_only: bool = True
    limit: int = Field(100, ge=1, le=MAX_BULK, description="at most this many, oldest first")


class ReplayFailure(BaseModel):
    id: int
    error: str


class BulkReplayResult(BaseModel):
    replayed: list[int]
    failed: list[ReplayFailure]


def matching(tenant: str, where: DeadLetterFilter) -> Select[tuple[DeadLetter]]:
    """The tenant's dead letters that match a filter; no other tenant's letter ever."""
    query = select(DeadLetter).where(col(DeadLetter.tenant) == tenant)
    if where.consumer is not None:
        query = query.where(col(DeadLetter.consumer) == where.consumer)
    if where.event_type is not None:
        query = query.where(col(DeadLetter.event_type) == where.event_type)
    if where.reason:
        query = query.where(col(DeadLetter.error).contains(where.reason, autoescape=True))
    if where.pending_only:
        query = query.where(col(DeadLetter.replayed_at).is_(None))
    if isinstance(where, BulkReplay) and where.ids is not None:
        query = query.where(col(DeadLetter.id).in_(where.ids))
    return query


@router.get("", response_model=Page[DeadLetterPublic])
async def list_dead_letters(
    principal: AdminDep, session: SessionDep, page: PageDep, where: FilterDep
) -> Page[DeadLetterPublic]:
    """Messages that could not be applied, newest first."""
    query = matching(principal.tenant, where)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(query.order_by(col(DeadLetter.id).desc()).limit(page.limit).offset(page.offset))
    items = [DeadLetterPublic.model_validate(row, from_attributes=True) for row in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/{dead_letter_id}", response_model=DeadLetterPublic)
async def get_dead_letter(dead_letter_id: PathInt, principal: AdminDep, session: SessionDep) -> DeadLetterPublic:
    """One dead letter of the caller's tenant."""
    letter = await session.get(DeadLetter, dead_letter_id)
    if letter is None or letter.tenant != principal.tenant:
        raise NotFound(f"No dead letter {dead_letter_id}")
    return DeadLetterPublic.model_validate(letter, from_attributes=True)


async def _replay(request: Request, letter: DeadLetter) -> DeadLetter:
    """Apply one letter again through its consumer's replayer and mark it replayed; raises on failure."""
    replayer = request.app.state.context.replayers.get(letter.consumer)
    if replayer is None:
        raise Conflict(f"This service cannot replay messages of consumer {letter.consumer!r}")
    await replayer(letter)
    db: Database = request.app.state.db
    async with db.session() as session:
        stored = await session.get(DeadLetter, letter.id)
        assert stored is not None
        stored.replayed_at = utcnow()
        await session.flush()
        session.expunge(stored)
    return stored


async def _load(request: Request, dead_letter_id: int, tenant: str) -> DeadLetter:
    db: Database = request.app.state.db
    async with db.sessionmaker() as session:
        letter = await session.get(DeadLetter, dead_letter_id)
        if letter is not None:
            session.expunge(letter)
    if letter is None or letter.tenant != tenant:
        raise NotFound(f"No dead letter {dead_letter_id}")
    return letter


@router.post("/{dead_letter_id}/replay", response_model=DeadLetterPublic)
async def replay_dead_letter(dead_letter_id: PathInt, principal: AdminDep, request: Request) -> DeadLetterPublic:
    """Apply a dead letter's message again (once: a message already applied changes nothing)."""
    letter = await _load(request, dead_letter_id, principal.tenant)
    try:
        replayed = await _replay(request, letter)
    except Conflict:
        raise
    except Exception as exc:
        raise Conflict(f"The replay failed again: {describe(exc)}") from exc
    return DeadLetterPublic.model_validate(replayed, from_attributes=True)


@router.post("/replay", response_model=BulkReplayResult)
async def replay_dead_letters(body: BulkReplay, principal: AdminDep, request: Request) -> BulkReplayResult:
    """Replay the tenant's dead letters matching the filter, oldest first, each on its own."""
    db: Database = request.app.state.db
    async with db.sessionmaker() as session:
        rows = list(
            await session.scalars(matching(principal.tenant, body).order_by(col(DeadLetter.id)).limit(body.limit))
        )
        for row in rows:
            session.expunge(row)
    result = BulkReplayResult(replayed=[], failed=[])
    for letter in rows:
        assert letter.id is not None
        try:
            await _replay(request, letter)
        except Exception as exc:  # noqa: BLE001 - one failing letter does not stop the others
            message = exc.detail if isinstance(exc, Conflict) else describe(exc)
            result.failed.append(ReplayFailure(id=letter.id, error=message[:2000]))
        else:
            result.replayed.append(letter.id)
    return result
