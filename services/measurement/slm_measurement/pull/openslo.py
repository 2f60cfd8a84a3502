"""Applied OpenSLO documents' prometheus DataSources and PromQL SLIs, pulled as `slm apply` asks over REST.

The catalogue publishes what the documents define (`slm.catalog.openslo.applied`); this brings the
tenant's data sources and pulled series in line: a new one is created, a changed one (URL; queries,
step or source) is changed from its next step on, an unchanged one is left alone, so a redelivered
event changes nothing.
"""

from __future__ import annotations

import logging

from pydantic import ValidationError
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from slm_measurement.pull.models import DataSource, PulledSeries
from slm_shared.bus import Handler
from slm_shared.bus.inbox import PermanentError
from slm_shared.contracts import EVENTS, CloudEvent
from slm_shared.contracts.payloads import OpenSLOAppliedV1
from slm_shared.terms.openslo_wiring import differs

logger = logging.getLogger(__name__)


async def _sources(session: AsyncSession, tenant: str, data: OpenSLOAppliedV1) -> dict[str, DataSource]:
    held = {
        source.name: source
        for source in await session.scalars(select(DataSource).where(col(DataSource.tenant) == tenant))
    }
    for given in data.data_sources:
        url = given.url.rstrip("/")
        source = held.get(given.name)
        if source is None:
            held[given.name] = source = DataSource(tenant=tenant, name=given.name, type=given.type, url=url)
            session.add(source)
        elif source.url != url:
            source.url = url
    await session.flush()
    return held


async def on_openslo_applied(session: AsyncSession, event: CloudEvent) -> None:
    """Create or change the data sources and pulled series the applied documents define."""
    try:
        data = event.payload(OpenSLOAppliedV1)
    except ValidationError as exc:
        raise PermanentError(f"invalid {event.type} payload: {exc}") from exc
    if session.get_bind().dialect.name == "postgresql":  # two replicas with two applies: one after the other
        await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"openslo:{event.tenant}"})
    sources = await _sources(session, event.tenant, data)
    by_id = {source.id: name for name, source in sources.items()}
    held = {
        (series.service_key, series.indicator): series
        for series in await session.scalars(select(PulledSeries).where(col(PulledSeries.tenant) == event.tenant))
    }
    for wanted in data.pulled_series:
        source = sources.get(wanted.data_source)
        if source is None:
            logger.warning("pulled series %s/%s names no data source", wanted.service, wanted.indicator)
            continue
        fields = wanted.model_dump(exclude={"service", "indicator", "data_source"})
        series = held.get((wanted.service, wanted.indicator))
        if series is None:
            session.add(
                PulledSeries(
                    tenant=event.tenant,
                    data_source_id=source.id,
                    service_key=wanted.service,
                    indicator=wanted.indicator,
                    **fields,
                )
            )
            continue
        now = {**series.model_dump(include=set(fields)), "data_source": by_id.get(series.data_source_id)}
        if differs(now, wanted.model_dump()):
            series.data_source_id = source.id
            for name, value in fields.items():
                setattr(series, name, value)
    await session.flush()


OPENSLO_HANDLERS: dict[str, Handler] = {EVENTS.openslo_applied.type: on_openslo_applied}
