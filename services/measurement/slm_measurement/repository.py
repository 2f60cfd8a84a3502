"""Objectives SQL: the read model, due objectives, transitions, pending versions and slice tallies."""

from __future__ import annotations

from collections import namedtuple
from collections.abc import Sequence
from datetime import datetime, timedelta
from operator import itemgetter
from typing import Any

from sqlalchemy import Select, delete, func, or_, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from slm_measurement.models import Objective, ObjectiveTransition, PendingActivation, SliceTally


async def get_objective(
    session: AsyncSession, *, tenant: str, objective_row_id: str, lock: bool = False
) -> Objective | None:
    query = select(Objective).where(col(Objective.tenant) == tenant, col(Objective.id) == objective_row_id)
    if lock:
        query = query.with_for_update()
    row = await session.scalar(query)
    return row


async def find_objective(
    session: AsyncSession, *, tenant: str, objective_id: str, lock: bool = False
) -> Objective | None:
    """The objective with this id: the agreement's objective id (the one id), or measurement's row id of old."""
    by_id = select(Objective).where(col(Objective.tenant) == tenant, col(Objective.objective_id) == objective_id)
    by_id = by_id.order_by(col(Objective.ended), col(Objective.updated_at).desc(), col(Objective.id)).limit(1)
    found = await session.scalar(by_id.with_for_update() if lock else by_id)
    if found is not None:
        return found
    return await get_objective(session, tenant=tenant, objective_row_id=objective_id, lock=lock)


OBJECTIVES = Objective.__table__  # type: ignore[attr-defined]
# What an evaluation reads: not the outcome it replaces (details, window, time evaluated) nor the row's own times.
_NOT_READ = {"details", "window_start", "window_end", "evaluated_at", "created_at", "updated_at"}
_EVALUATED_COLUMNS = [column for column in Objective.__table__.columns if column.key not in _NOT_READ]  # type: ignore[attr-defined]
# An objective's columns as a pass reads them: attribute access like the entity, at a tuple's cost
# (a Row's attribute lookup costs about as much as the rest of judging an objective).
_ObjectiveRow: Any = namedtuple("ObjectiveRow", [column.key for column in _EVALUATED_COLUMNS])  # type: ignore[misc]
ObjectiveRow = Any  # its fields are the columns above, known only at import


def _due(stale_before: datetime) -> Any:
    return or_(
        col(Objective.needs_evaluation).is_(True),
        col(Objective.evaluated_at).is_(None),
        col(Objective.evaluated_at) < stale_before,
    )


async def due_objective_ids(session: AsyncSession, *, stale_before: datetime, limit: int) -> list[str]:
    """Active objectives to evaluate: flagged by ingestion first, then the stalest; those chosen, series by series.

    Objectives of one series come together, so a chunk of them reads each series' rollups once.
    """
    rows = await session.execute(
        select(col(Objective.id), col(Objective.tenant), col(Objective.service_key), col(Objective.indicator))
        .where(col(Objective.active).is_(True), _due(stale_before))
        .order_by(col(Objective.needs_evaluation).desc(), col(Objective.evaluated_at), col(Objective.id))
        .limit(limit)
    )
    # By position, not name: a Row's attribute lookup costs more than the sort (stable within a series).
    return [row[0] for row in sorted(rows.all(), key=itemgetter(1, 2, 3))]


def next_stale_statement(stale_before: datetime) -> Select[Any]:
    return select(func.min(col(Objective.evaluated_at))).where(
        col(Objective.active).is_(True),
        col(Objective.needs_evaluation).is_(False),
        col(Objective.evaluated_at) >= stale_before,
    )


async def next_stale_at(session: AsyncSession, *, stale_before: datetime, interval: timedelta) -> datetime | None:
    """When the next active objective evaluated since `stale_before` falls due again (None: none was).

    Flagged objectives are left out (due at once, they are the pass's anyway): a range seek on `ix_objectives_due`."""
    oldest = await session.scalar(next_stale_statement(stale_before))
    return None if oldest is None else oldest + interval


async def agreement_objectives(session: AsyncSession, *, tenant: str, agreement_id: str) -> Sequence[Objective]:
    rows = await session.scalars(
        select(Objective).where(col(Objective.tenant) == tenant, col(Objective.agreement_id) == agreement_id)
    )
    return rows.all()


async def list_objectives(
    session: AsyncSession,
    *,
    tenant: str,
    limit: int,
    offset: int,
    party: str | None = None,
    service: str | None = None,
    indicator: str | None = None,
    agreement_id: str | None = None,
    status: str | None = None,
    active: bool | None = None,
) -> tuple[Sequence[Objective], int]:
    query = select(Objective).where(col(Objective.tenant) == tenant)
    if party is not None:
        query = query.where(col(Objective.consumer_party_id) == party)
    if service:
        query = query.where(col(Objective.service_key) == service)
    if indicator:
        query = query.where(col(Objective.indicator) == indicator)
    if agreement_id:
        query = query.where(col(Objective.agreement_id) == agreement_id)
    if status:
        query = query.where(col(Objective.status) == status)
    if active is not None:
        query = query.where(col(Objective.active).is_(active))
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(
        query.order_by(Objective.service_key, Objective.agreement_id, Objective.objective_id, Objective.id)
        .limit(limit)
        .offset(offset)
    )
    return rows.all(), total


async def party_services(session: AsyncSession, *, tenant: str, party: str) -> set[tuple[str, str, str | None]]:
    """The (service, indicator, scope) a customer's agreements measure (scope None: every scope summed)."""
    rows = await session.execute(
        select(col(Objective.service_key), col(Objective.indicator), col(Objective.scope))
        .where(col(Objective.tenant) == tenant, col(Objective.consumer_party_id) == party)
        .distinct()
    )
    return {(s, i, sc) for s, i, sc in rows.all()}


def add_transition(session: AsyncSession, transition: ObjectiveTransition) -> None:
    session.add(transition)


async def list_transitions(
    session: AsyncSession,
    *,
    tenant: str,
    objective_row_id: str,
    limit: int,
    offset: int,
    until: datetime | None = None,
) -> tuple[Sequence[ObjectiveTransition], int]:
    """An objective's status changes (those at or before `until`, if given), newest first."""
    query = select(ObjectiveTransition).where(
        col(ObjectiveTransition.tenant) == tenant, col(ObjectiveTransition.objective_row_id) == objective_row_id
    )
    if until is not None:
        query = query.where(col(ObjectiveTransition.at) <= until)
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(
        query.order_by(col(ObjectiveTransition.at).desc(), col(ObjectiveTransition.id)).limit(limit).offset(offset)
    )
    return rows.all(), total


async def pending_activation(
    session: AsyncSession, *, tenant: str, agreement_id: str, version: int
) -> PendingActivation | None:
    row = await session.scalar(
        select(PendingActivation).where(
            col(PendingActivation.tenant) == tenant,
            col(PendingActivation.agreement_id) == agreement_id,
            col(PendingActivation.version) == version,
        )
    )
    return row


async def next_activation_at(session: AsyncSession, *, after: datetime) -> datetime | None:
    """When the next pending version takes effect, of those later than `after` (None: none is)."""
    found: datetime | None = await session.scalar(
        select(func.min(col(PendingActivation.effective_from))).where(col(PendingActivation.effective_from) > after)
    )
    return found


async def due_activations(
    session: AsyncSession, *, now: datetime, limit: int = 50, skip: set[str] | None = None
) -> Sequence[PendingActivation]:
    """Pending versions whose effective instant has come, oldest first (those in `skip` left out)."""
    query = select(PendingActivation).where(col(PendingActivation.effective_from) <= now)
    if skip:
        query = query.where(col(PendingActivation.id).not_in(sorted(skip)))
    rows = await session.scalars(
        query.order_by(col(PendingActivation.effective_from), col(PendingActivation.version), col(PendingActivation.id))
        .limit(limit)
        .with_for_update(skip_locked=True)  # another replica applying one leaves it alone
    )
    return rows.all()


async def drop_pending(session: AsyncSession, *, tenant: str, agreement_id: str, up_to_version: int) -> None:
    """Forget pending versions an end or a newer version made moot."""
    await session.execute(
        delete(PendingActivation).where(
            col(PendingActivation.tenant) == tenant,
            col(PendingActivation.agreement_id) == agreement_id,
            col(PendingActivation.version) <= up_to_version,
        )
    )


async def forget_objective_tallies(session: AsyncSession, *, objective_row_id: str) -> None:
    await session.execute(delete(SliceTally).where(col(SliceTally.objective_row_id) == objective_row_id))
