"""Data sources and pulled series SQL, each read scoped to the asking principal's tenant (and party)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from slm_measurement import repository
from slm_measurement.pull.models import DataSource, PulledSeries
from slm_shared.auth import Principal


async def data_source_named(session: AsyncSession, principal: Principal, name: str) -> DataSource | None:
    """The tenant's data source of this name."""
    found = await session.scalar(
        select(DataSource).where(col(DataSource.tenant) == principal.tenant, col(DataSource.name) == name)
    )
    return found


async def data_source_name_taken(session: AsyncSession, principal: Principal, name: str) -> bool:
    taken = await session.scalar(
        select(col(DataSource.id)).where(col(DataSource.tenant) == principal.tenant, col(DataSource.name) == name)
    )
    return bool(taken)


async def data_sources(session: AsyncSession, principal: Principal) -> list[DataSource]:
    """The tenant's data sources by name."""
    rows = await session.scalars(
        select(DataSource).where(col(DataSource.tenant) == principal.tenant).order_by(col(DataSource.name))
    )
    return list(rows)


async def add_data_source(session: AsyncSession, principal: Principal, source: DataSource) -> None:
    """Store a new data source of the principal's tenant."""
    if source.tenant != principal.tenant:
        raise ValueError("a data source belongs to the tenant that registers it")
    session.add(source)
    await session.flush()


async def register_again(
    session: AsyncSession, principal: Principal, source: DataSource, *, url: str, auth_header: str | None
) -> None:
    """A data source stopped by its document's deletion, registered over the API: queried again. It keeps the
    deletion's time as the last time the documents set it, so an apply from before the deletion, delivered late,
    changes nothing, and a newer one takes it over as it would any."""
    if source.tenant != principal.tenant:
        raise ValueError("a data source belongs to the tenant that registers it")
    source.url, source.auth_header, source.auth_from_env, source.stopped_at = url, auth_header, False, None
    await session.flush()


async def series_pulled_already(
    session: AsyncSession, principal: Principal, *, service_key: str, indicator: str
) -> bool:
    taken = await session.scalar(
        select(col(PulledSeries.id)).where(
            col(PulledSeries.tenant) == principal.tenant,
            col(PulledSeries.service_key) == service_key,
            col(PulledSeries.indicator) == indicator,
        )
    )
    return bool(taken)


async def add_pulled_series(session: AsyncSession, principal: Principal, series: PulledSeries) -> None:
    """Store a new pulled series of the principal's tenant."""
    if series.tenant != principal.tenant:
        raise ValueError("a pulled series belongs to the tenant that creates it")
    session.add(series)
    await session.flush()


async def change_series_queries(
    session: AsyncSession,
    principal: Principal,
    series: PulledSeries,
    *,
    source: DataSource,
    good_query: str | None,
    total_query: str | None,
    value_query: str | None,
    step_seconds: int,
) -> None:
    """Point one of the principal's series at a source and queries, from its next step on."""
    if series.tenant != principal.tenant or source.tenant != principal.tenant:
        raise ValueError("a pulled series and its source belong to the principal's tenant")
    series.data_source_id = source.id
    series.good_query, series.total_query, series.value_query = good_query, total_query, value_query
    series.step_seconds = step_seconds
    series.stopped_at = None  # changed by hand: pulled again
    await session.flush()


async def all_pulled_series(session: AsyncSession, principal: Principal) -> list[PulledSeries]:
    """The tenant's pulled series by service and indicator."""
    rows = await session.scalars(
        select(PulledSeries)
        .where(col(PulledSeries.tenant) == principal.tenant)
        .order_by(col(PulledSeries.service_key), col(PulledSeries.indicator))
    )
    return list(rows)


async def pulled_series_with_source(
    session: AsyncSession, principal: Principal, series_id: str
) -> tuple[PulledSeries, DataSource] | None:
    """One of the tenant's pulled series (locked for update) and its data source."""
    found = (
        await session.execute(
            select(PulledSeries, DataSource)
            .join(DataSource, col(DataSource.id) == col(PulledSeries.data_source_id))
            .where(col(PulledSeries.tenant) == principal.tenant, col(PulledSeries.id) == series_id)
            .with_for_update(of=PulledSeries)
        )
    ).first()
    if found is None:
        return None
    return found[0], found[1]


async def sources_of_objective(
    session: AsyncSession, principal: Principal, objective_id: str
) -> list[PulledSeries] | None:
    """The series an objective's data is pulled from; None when the principal cannot see the objective."""
    objective = await repository.find_objective(session, tenant=principal.tenant, objective_id=objective_id)
    if objective is None or (principal.is_customer_only and objective.consumer_party_id != principal.party):
        return None
    rows = await session.scalars(
        select(PulledSeries).where(
            col(PulledSeries.tenant) == principal.tenant,
            col(PulledSeries.service_key) == objective.service_key,
            col(PulledSeries.indicator) == objective.indicator,
        )
    )
    return list(rows)
