"""All measurement SQL: bulk bucket upserts, window sums and the objectives read model."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Table, and_, func, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.ext.asyncio import AsyncSession

from slm_measurement.ingest import Rollup, SeriesKey
from slm_measurement.models import DayBucket, HourBucket, MinuteBucket, Objective
from slm_measurement.windows import Bounds, split_range

BUCKET_TABLES: dict[str, tuple[Table, str]] = {
    "minute": (MinuteBucket.__table__, "minute"),  # type: ignore[attr-defined]
    "hour": (HourBucket.__table__, "hour"),  # type: ignore[attr-defined]
    "day": (DayBucket.__table__, "day"),  # type: ignore[attr-defined]
}
UPSERT_CHUNK = 5000


def _upsert_statement(session: AsyncSession, table: Table, index_column: str) -> Any:
    dialect = session.bind.dialect.name if session.bind is not None else "sqlite"
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    statement = insert(table)
    return statement.on_conflict_do_update(
        index_elements=["tenant", "service", "indicator", "scope", index_column],
        set_={"good": table.c.good + statement.excluded.good, "total": table.c.total + statement.excluded.total},
    )


async def upsert_buckets(session: AsyncSession, *, tenant: str, rollup: Rollup) -> None:
    """Add the batch's sums to the minute, hour and day buckets: one bulk upsert per table."""
    for granularity, sums in (("minute", rollup.minutes), ("hour", rollup.hours), ("day", rollup.days)):
        table, index_column = BUCKET_TABLES[granularity]
        statement = _upsert_statement(session, table, index_column)
        rows = _bucket_rows(tenant, index_column, sums)
        for offset in range(0, len(rows), UPSERT_CHUNK):
            await session.execute(statement, rows[offset : offset + UPSERT_CHUNK])


def _bucket_rows(tenant: str, index_column: str, sums: dict[SeriesKey, list[float]]) -> list[dict[str, Any]]:
    return [
        {"tenant": tenant, "service": s, "indicator": i, "scope": sc, index_column: n, "good": g, "total": t}
        for (s, i, sc, n), (g, t) in sorted(sums.items())
    ]


async def mark_series_for_evaluation(session: AsyncSession, *, tenant: str, series: set[tuple[str, str]]) -> int:
    """Flag the active objectives on the given (service, indicator) pairs as needing evaluation.

    No filter on the flag itself: on PostgreSQL the update then waits for a worker that holds
    the row, and sets the flag again after that worker's evaluation commits.
    """
    if not series:
        return 0
    result = await session.execute(
        update(Objective)
        .where(
            Objective.tenant == tenant,
            Objective.active.is_(True),  # type: ignore[attr-defined]
            or_(*(and_(Objective.service_key == s, Objective.indicator == i) for s, i in sorted(series))),
        )
        .values(needs_evaluation=True)
    )
    return int(result.rowcount or 0)  # type: ignore[attr-defined]


async def window_sums(
    session: AsyncSession, *, tenant: str, service: str, indicator: str, bounds: Bounds
) -> tuple[float, float]:
    """Good and total over the bounds, from day, hour and minute buckets (all scopes)."""
    good = total = 0.0
    for segment in split_range(bounds):
        table, index_column = BUCKET_TABLES[segment.granularity]
        column = table.c[index_column]
        row = (
            await session.execute(
                select(func.coalesce(func.sum(table.c.good), 0.0), func.coalesce(func.sum(table.c.total), 0.0)).where(
                    table.c.tenant == tenant,
                    table.c.service == service,
                    table.c.indicator == indicator,
                    column >= segment.first,
                    column < segment.stop,
                )
            )
        ).one()
        good += float(row[0])
        total += float(row[1])
    return good, total


async def get_objective(
    session: AsyncSession, *, tenant: str, objective_row_id: str, lock: bool = False
) -> Objective | None:
    query = select(Objective).where(Objective.tenant == tenant, Objective.id == objective_row_id)
    if lock:
        query = query.with_for_update()
    return await session.scalar(query)


async def lock_due_objective(
    session: AsyncSession, *, objective_row_id: str, stale_before: datetime
) -> Objective | None:
    """The objective, locked, if it is still due; None if another worker holds or did it."""
    query = (
        select(Objective)
        .where(
            Objective.id == objective_row_id,
            Objective.active.is_(True),  # type: ignore[attr-defined]
            _due(stale_before),
        )
        .with_for_update(skip_locked=True)
    )
    return await session.scalar(query)


def _due(stale_before: datetime) -> Any:
    return or_(
        Objective.needs_evaluation.is_(True),  # type: ignore[attr-defined]
        Objective.evaluated_at.is_(None),  # type: ignore[union-attr]
        Objective.evaluated_at < stale_before,  # type: ignore[operator]
    )


async def due_objective_ids(session: AsyncSession, *, stale_before: datetime, limit: int) -> list[str]:
    """Active objectives to evaluate: flagged by ingestion first, then the stalest."""
    rows = await session.scalars(
        select(Objective.id)
        .where(Objective.active.is_(True), _due(stale_before))  # type: ignore[attr-defined]
        .order_by(Objective.needs_evaluation.desc(), Objective.evaluated_at, Objective.id)  # type: ignore[attr-defined]
        .limit(limit)
    )
    return list(rows.all())


async def agreement_objectives(session: AsyncSession, *, tenant: str, agreement_id: str) -> Sequence[Objective]:
    rows = await session.scalars(
        select(Objective).where(Objective.tenant == tenant, Objective.agreement_id == agreement_id)
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
    agreement_id: str | None = None,
    status: str | None = None,
    active: bool | None = None,
) -> tuple[Sequence[Objective], int]:
    query = select(Objective).where(Objective.tenant == tenant)
    if party is not None:
        query = query.where(Objective.consumer_party_id == party)
    if service:
        query = query.where(Objective.service_key == service)
    if agreement_id:
        query = query.where(Objective.agreement_id == agreement_id)
    if status:
        query = query.where(Objective.status == status)
    if active is not None:
        query = query.where(Objective.active.is_(active))  # type: ignore[attr-defined]
    total = await session.scalar(select(func.count()).select_from(query.subquery())) or 0
    rows = await session.scalars(
        query.order_by(Objective.service_key, Objective.agreement_id, Objective.objective_id, Objective.id)
        .limit(limit)
        .offset(offset)
    )
    return rows.all(), total
