"""The caller's tenant's outbox rows: list them by status, re-queue one the relay gave up on, or all that match."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Select, func, select, update
from sqlmodel import col

from slm_shared.bus.models import OutboxMessage
from slm_shared.bus.record import PENDING_FLAG
from slm_shared.errors import PROBLEM_RESPONSES, Conflict, NotFound
from slm_shared.web.bounds import MAX_PATH_INT, PathInt, StorableStr
from slm_shared.web.deps import AdminDep, SessionDep
from slm_shared.web.pagination import Page, PageDep

router = APIRouter(prefix="/v1/outbox", tags=["operations"], responses=PROBLEM_RESPONSES)

Status = Literal["pending", "sent", "failed"]


class OutboxRowPublic(BaseModel):
    seq: int
    event_id: str
    tenant: str
    subject: str
    type: str
    headers: dict[str, Any]
    body: str
    status: Status
    attempts: int
    last_error: str | None
    created_at: datetime
    sent_at: datetime | None
    failed_at: datetime | None


class Requeue(BaseModel):
    """Re-queue the tenant's failed rows (of one event type, or these seqs, if given), oldest first."""

    model_config = ConfigDict(extra="forbid")

    type: StorableStr | None = Field(None, max_length=255)
    seqs: list[Annotated[int, Field(ge=1, le=MAX_PATH_INT)]] | None = Field(
        None, min_length=1, max_length=10_000, description="only these rows (the type, if given, still applies)"
    )
    limit: int = Field(1000, ge=1, le=10_000)


class Requeued(BaseModel):
    requeued: list[int]


def _of_status(query: Select[tuple[OutboxMessage]], status: Status | None) -> Select[tuple[OutboxMessage]]:
    if status == "sent":
        return query.where(col(OutboxMessage.sent_at).is_not(None))
    if status == "failed":
        return query.where(col(OutboxMessage.sent_at).is_(None), col(OutboxMessage.failed_at).is_not(None))
    if status == "pending":
        return query.where(col(OutboxMessage.sent_at).is_(None), col(OutboxMessage.failed_at).is_(None))
    return query


def _public(row: OutboxMessage) -> OutboxRowPublic:
    assert row.seq is not None
    return OutboxRowPublic.model_validate({**row.model_dump(), "status": row.status})


@router.get("", response_model=Page[OutboxRowPublic])
async def list_outbox(
    principal: AdminDep,
    session: SessionDep,
    page: PageDep,
    status: Annotated[Status | None, Query(description="pending, sent or failed (given up)")] = None,
    type: Annotated[str | None, Query(max_length=255, description="the event type")] = None,
) -> Page[OutboxRowPublic]:
    """Events this service recorded for the caller's tenant, newest first."""
    query = _of_status(select(OutboxMessage).where(col(OutboxMessage.tenant) == principal.tenant), status)
    if type is not None:
        query = query.where(col(OutboxMessage.type) == type)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(query.order_by(col(OutboxMessage.seq).desc()).limit(page.limit).offset(page.offset))
    return Page(items=[_public(row) for row in rows], total=total, limit=page.limit, offset=page.offset)


@router.post("/{seq}/requeue", response_model=OutboxRowPublic)
async def requeue_outbox_row(seq: PathInt, principal: AdminDep, session: SessionDep) -> OutboxRowPublic:
    """Give a row the relay gave up on a fresh set of attempts."""
    row = await session.get(OutboxMessage, seq)
    if row is None or row.tenant != principal.tenant:
        raise NotFound(f"No outbox row {seq}")
    if row.status != "failed":
        raise Conflict(f"Outbox row {seq} is {row.status}, not failed")
    row.failed_at = None
    row.attempts = 0
    await session.flush()
    session.info[PENDING_FLAG] = True  # the relay is woken after commit
    return _public(row)


@router.post("/requeue", response_model=Requeued)
async def requeue_outbox_rows(body: Requeue, principal: AdminDep, session: SessionDep) -> Requeued:
    """Give every failed row of the tenant (of one type, if given) a fresh set of attempts."""
    query = _of_status(select(col(OutboxMessage.seq)).where(col(OutboxMessage.tenant) == principal.tenant), "failed")  # type: ignore[arg-type]
    if body.type is not None:
        query = query.where(col(OutboxMessage.type) == body.type)
    if body.seqs is not None:
        query = query.where(col(OutboxMessage.seq).in_(body.seqs))
    seqs = list(await session.scalars(query.order_by(col(OutboxMessage.seq)).limit(body.limit)))
    if seqs:
        await session.execute(
            update(OutboxMessage).where(col(OutboxMessage.seq).in_(seqs)).values(failed_at=None, attempts=0)
        )
        session.info[PENDING_FLAG] = True
    return Requeued(requeued=seqs)
