"""Pulling PromQL series into the same rollups as pushed points, on a schedule or over a past range."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from slm_measurement import service as ingest_service
from slm_measurement.ingest import MAX_COUNT, Point
from slm_measurement.models import Objective
from slm_measurement.pull.models import NO_DATA, OK, PENDING, QUERY_ERROR, DataSource, PulledSeries
from slm_measurement.pull.prometheus import PullFailed, query_range
from slm_shared.bus import carried_tenant, record_event, tenant_carried
from slm_shared.contracts import EVENTS
from slm_shared.contracts.payloads import SourceStateV1
from slm_shared.db import utcnow
from slm_shared.errors import ProblemError

logger = logging.getLogger(__name__)
MAX_STEPS_PER_QUERY = 10_000  # Prometheus answers at most 11,000 points per series
PULL_BATCH = 100  # series one pass claims


@dataclass(frozen=True)
class Pulled:
    points: int
    state: str
    detail: str


def _aligned(instant: datetime, step: int) -> datetime:
    return datetime.fromtimestamp(int(instant.timestamp()) // step * step, tz=UTC)


def _headers(source: DataSource) -> dict[str, str]:
    return {"Authorization": source.auth_header} if source.auth_header else {}


async def _values(
    client: httpx.AsyncClient, source: DataSource, query: str, start: datetime, end: datetime, step: int
) -> dict[int, float]:
    values: dict[int, float] = {}
    chunk = timedelta(seconds=step * MAX_STEPS_PER_QUERY)
    cursor = start
    while cursor <= end:
        upper = min(cursor + chunk, end)
        values.update(
            await query_range(
                client, url=source.url, query=query, start=cursor, end=upper, step=step, headers=_headers(source)
            )
        )
        cursor = upper + timedelta(seconds=step)
    return values


def _points(
    series: PulledSeries, good: dict[int, float], total: dict[int, float], value: dict[int, float]
) -> list[Point]:
    """One point per step, stamped at the start of the interval the step's value covers."""
    step = series.step_seconds
    points = []
    if series.value_query:
        for stamp, measured in sorted(value.items()):
            at = datetime.fromtimestamp(stamp - step, tz=UTC)
            points.append(
                Point(
                    service=series.service_key,
                    indicator=series.indicator,
                    timestamp=at,
                    value=min(max(measured, 0.0), MAX_COUNT),
                )
            )
        return points
    for stamp, all_events in sorted(total.items()):
        counted = min(max(all_events, 0.0), MAX_COUNT)
        good_events = min(max(good.get(stamp, 0.0), 0.0), counted)  # increase() extrapolates; never more good than all
        at = datetime.fromtimestamp(stamp - step, tz=UTC)
        points.append(
            Point(service=series.service_key, indicator=series.indicator, timestamp=at, good=good_events, total=counted)
        )
    return points


async def pull_range(
    session: AsyncSession,
    client: httpx.AsyncClient,
    *,
    series: PulledSeries,
    source: DataSource,
    start: datetime,
    end: datetime,
    max_lateness: timedelta,
    now: datetime | None = None,
) -> Pulled:
    """Query the range, store its points through the ingest path, and record the outcome on the series."""
    now = now or utcnow()
    step = series.step_seconds
    start, end = _aligned(start, step), _aligned(end, step)
    try:
        if series.value_query:
            good, total, value = {}, {}, await _values(client, source, series.value_query, start, end, step)
        else:
            assert series.good_query and series.total_query
            total = await _values(client, source, series.total_query, start, end, step)
            good = await _values(client, source, series.good_query, start, end, step)
            value = {}
    except PullFailed as failed:
        return await _record(session, series, failed.state, failed.detail, now)
    points = _points(series, good, total, value)
    if not points:
        return await _record(
            session, series, NO_DATA, f"no samples between {start.isoformat()} and {end.isoformat()}", now
        )
    limits = ingest_service.IngestLimits(max_lateness=max_lateness, max_future=timedelta(seconds=step))
    try:
        stored = await ingest_service.ingest_batch(session, tenant=series.tenant, batch=points, limits=limits, now=now)
    except ProblemError as refused:  # checked before anything is written
        return await _record(session, series, QUERY_ERROR, f"the query's values were refused: {refused.detail}", now)
    series.pulled_until = max(series.pulled_until or end, end)
    series.covered_from = min(series.covered_from or start, start)
    outcome = await _record(session, series, OK, f"{stored} points from {start.isoformat()} to {end.isoformat()}", now)
    return Pulled(points=stored, state=outcome.state, detail=outcome.detail)


async def _record(session: AsyncSession, series: PulledSeries, state: str, detail: str, now: datetime) -> Pulled:
    """Keep the outcome on the series; a failure, or the recovery from one, is told to each objective it feeds."""
    previous = series.state
    series.state, series.detail, series.checked_at = state, detail[:2000], now
    if state != previous and (state != OK or previous != PENDING):
        logger.warning("pulled series %s/%s is now %s: %s", series.service_key, series.indicator, state, detail)
        objectives = await session.scalars(
            select(Objective).where(
                col(Objective.tenant) == series.tenant,
                col(Objective.service_key) == series.service_key,
                col(Objective.indicator) == series.indicator,
                col(Objective.active),
            )
        )
        for objective in objectives:
            record_event(
                session,
                EVENTS.source_state_changed,
                tenant=series.tenant,
                subject=objective.objective_id,
                data=SourceStateV1(
                    agreement_id=objective.agreement_id,
                    objective_id=objective.objective_id,
                    service_key=series.service_key,
                    indicator=series.indicator,
                    consumer_party_id=objective.consumer_party_id,
                    state=state,
                    previous_state=previous,
                    severity="info" if state == OK else "warning",
                    detail=detail[:2000],
                    observed_at=now,
                ),
            )
    return Pulled(points=0, state=state, detail=detail)


async def pull_due(
    session: AsyncSession, client: httpx.AsyncClient, *, max_lateness: timedelta, first_lookback: timedelta
) -> int:
    """Pull every series whose next step has closed; claimed row by row so replicas share the work."""
    now = utcnow()
    rows = await session.execute(
        select(PulledSeries, DataSource)
        .join(DataSource, col(DataSource.id) == col(PulledSeries.data_source_id))
        .where(
            col(PulledSeries.stopped_at).is_(None),
            col(DataSource.stopped_at).is_(None),
            carried_tenant(col(PulledSeries.tenant)),  # a skipped series would sort first every pass
        )
        .order_by(col(PulledSeries.checked_at))
        .with_for_update(of=PulledSeries, skip_locked=True)
        .limit(PULL_BATCH)
    )
    pulled = 0
    for series, source in rows:
        if not tenant_carried(series.tenant, job="pull", item=f"series {series.id}"):
            continue  # its state's events could not be built: one such series must not stop every pull
        step = timedelta(seconds=series.step_seconds)
        end = _aligned(now - step, series.step_seconds)  # the last whole step, its samples scraped
        start = (series.pulled_until + step) if series.pulled_until else end - first_lookback
        start = max(start, end - max_lateness + step)
        if start > end:
            continue
        outcome = await pull_range(
            session, client, series=series, source=source, start=start, end=end, max_lateness=max_lateness, now=now
        )
        pulled += outcome.points
    return pulled


async def replay(
    session: AsyncSession, client: httpx.AsyncClient, *, series: PulledSeries, source: DataSource, start: datetime
) -> Pulled:
    """Pull the source's history from `start` up to what was already pulled, so no step is counted twice."""
    step = timedelta(seconds=series.step_seconds)
    now = utcnow()
    end = (series.covered_from - step) if series.covered_from else _aligned(now - step, series.step_seconds)
    if _aligned(start, series.step_seconds) > end:
        return Pulled(points=0, state=series.state, detail="already pulled from there on")
    lateness = now - start + 2 * step  # each point is stamped a step before the instant it was read at
    return await pull_range(
        session, client, series=series, source=source, start=start, end=end, max_lateness=lateness, now=now
    )
