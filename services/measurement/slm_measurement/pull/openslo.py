"""Applied OpenSLO documents' prometheus DataSources and PromQL SLIs, pulled as `slm apply` asks over REST.

The catalogue publishes what the documents define (`slm.catalog.openslo.applied`); this brings the
tenant's data sources and pulled series in line: a new one is created, a changed one (URL; queries,
step or source) is changed from its next step on, an unchanged one is left alone, so a redelivered
event changes nothing. Each row keeps the time of the apply that last set it, and an older apply
delivered after a newer one changes nothing. A data source's url must be http(s); when an apply moves
it to another URL its stored Authorization header is cleared (it was given for the old host). A credential
never travels in the event: the documents name variables (`SLM_PROMETHEUS_<TENANT>_<NAME>`) read here.

A deleted document's data sources and series stop (`stopped_at`): never queried again until a newer apply.
"""

from __future__ import annotations

import base64
import logging
import os
from datetime import datetime
from urllib.parse import urlsplit

from pydantic import ValidationError
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from slm_measurement.pull.models import DataSource, PulledSeries, RemovedDataSource, RemovedSeries
from slm_shared.bus import Handler
from slm_shared.bus.dead_letters import PermanentError
from slm_shared.contracts import EVENTS, CloudEvent
from slm_shared.contracts.payloads import OpenSLOAppliedV1, OpenSLODataSourceV1, OpenSLORemovedV1
from slm_shared.terms.openslo_credentials import data_source_variable_prefix, tenant_may_read_data_source
from slm_shared.terms.openslo_wiring import differs

logger = logging.getLogger(__name__)


def _newer(applied_at: datetime | None, event: CloudEvent) -> bool:
    """Whether the row was set by an apply later than this event's (an older apply redelivered late)."""
    return applied_at is not None and applied_at > event.time


def _registered_since(
    applied_at: datetime | None, created_at: datetime, removal: RemovedDataSource | RemovedSeries | None
) -> bool:
    """Whether a row never applied was made over the API after the deletion remembered for its name was consumed:
    an apply older than that deletion, consumed later, does not take it over (in order, the API's row came last)."""
    consumed_at = removal.consumed_at if removal is not None else None
    return applied_at is None and consumed_at is not None and created_at >= consumed_at


def _credential(tenant: str, given: OpenSLODataSourceV1) -> str | None:
    """The Authorization header from the variables the documents name, read from this service's environment; None
    when they name none, or one this tenant may not read, or one not set (logged by the variable's name only)."""
    if given.bearer_token_env:
        names = [given.bearer_token_env]
    elif given.username_env and given.password_env:
        names = [given.username_env, given.password_env]
    else:
        return None
    values = [os.environ.get(name) if tenant_may_read_data_source(tenant, name) else None for name in names]
    if not all(values):
        logger.warning(
            "data source %s: its credential is not read: %s must be set in measurement's environment and named %sNAME",
            given.name,
            " and ".join(names),
            data_source_variable_prefix(tenant),
        )
        return None
    if given.bearer_token_env:
        return f"Bearer {values[0]}"
    return "Basic " + base64.b64encode(f"{values[0]}:{values[1]}".encode()).decode()


async def _sources(session: AsyncSession, event: CloudEvent, data: OpenSLOAppliedV1) -> dict[str, DataSource]:
    tenant = event.tenant
    held = {
        source.name: source
        for source in await session.scalars(select(DataSource).where(col(DataSource.tenant) == tenant))
    }
    removed = {
        removal.name: removal
        for removal in await session.scalars(select(RemovedDataSource).where(col(RemovedDataSource.tenant) == tenant))
    }
    for given in data.data_sources:
        url = given.url.rstrip("/")
        parts = urlsplit(url)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            logger.warning("data source %s not applied: its url is not an http(s) URL", given.name)
            continue
        source = held.get(given.name)
        removal = removed.get(given.name)
        removed_at = removal.removed_at if removal is not None else None
        # deleted at or after this apply's time, the deletion consumed first (it left the name to an API row or none)
        deleted_later = removed_at is not None and removed_at >= event.time
        if source is None and deleted_later:
            continue  # its document was deleted after this apply: the data source is not made
        if source is not None and deleted_later and _registered_since(source.applied_at, source.created_at, removal):
            continue  # registered over the API after the deletion was consumed: in order, that registration wins
        credential = _credential(tenant, given)
        if source is None:
            held[given.name] = source = DataSource(
                tenant=tenant,
                name=given.name,
                type=given.type,
                url=url,
                auth_header=credential,
                auth_from_env=credential is not None,
                applied_at=event.time,
            )
            session.add(source)
            continue
        if _newer(source.applied_at, event):
            continue
        if source.stopped_at is not None and source.applied_at == event.time:
            continue  # stopped by a deletion of the same time: the deletion stands, whichever was consumed first
        taken_over = source.applied_at is None
        if source.url != url:
            if source.auth_header is not None:
                # the stored Authorization was given for the old host: never sent to the new one
                logger.warning("data source %s moved to another URL: its stored authorization is cleared", given.name)
                source.auth_header, source.auth_from_env = None, False
            source.url = url
        if credential is not None:
            source.auth_header, source.auth_from_env = credential, True
        elif source.auth_from_env and not (given.bearer_token_env or given.username_env or given.password_env):
            # the documents named a variable before and name none now: its value is no longer sent
            source.auth_header, source.auth_from_env = None, False
        source.applied_at = event.time
        source.stopped_at = None  # applied after its document was deleted: queried again
        if taken_over and removed_at is not None and deleted_later:
            # registered over the API, taken over by this apply, and its document deleted since: stopped as in order
            source.applied_at = source.stopped_at = removed_at
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
    sources = await _sources(session, event, data)
    by_id = {source.id: name for name, source in sources.items()}
    held = {
        (series.service_key, series.indicator): series
        for series in await session.scalars(select(PulledSeries).where(col(PulledSeries.tenant) == event.tenant))
    }
    removed = {
        (removal.service_key, removal.indicator): removal
        for removal in await session.scalars(select(RemovedSeries).where(col(RemovedSeries.tenant) == event.tenant))
    }
    for wanted in data.pulled_series:
        source = sources.get(wanted.data_source)
        if source is None:
            logger.warning("pulled series %s/%s names no data source", wanted.service, wanted.indicator)
            continue
        fields = wanted.model_dump(exclude={"service", "indicator", "data_source"})
        series = held.get((wanted.service, wanted.indicator))
        removal = removed.get((wanted.service, wanted.indicator))
        # deleted at or after this apply's time, the deletion consumed first (it left the key to an API row or none)
        deleted_later = removal is not None and removal.removed_at >= event.time
        if series is None and deleted_later:
            continue  # its document was deleted after this apply: the series is not made
        if series is not None and deleted_later and _registered_since(series.applied_at, series.created_at, removal):
            continue  # made over the API after the deletion was consumed: in order, that series wins
        if series is None:
            session.add(
                PulledSeries(
                    tenant=event.tenant,
                    data_source_id=source.id,
                    service_key=wanted.service,
                    indicator=wanted.indicator,
                    applied_at=event.time,
                    **fields,
                )
            )
            continue
        if _newer(series.applied_at, event):
            continue
        if series.stopped_at is not None and series.applied_at == event.time:
            continue  # stopped by a deletion of the same time: the deletion stands, whichever was consumed first
        taken_over = series.applied_at is None
        series.applied_at = event.time
        series.stopped_at = None  # applied after its document was deleted: pulled again
        now = {**series.model_dump(include=set(fields)), "data_source": by_id.get(series.data_source_id)}
        if differs(now, wanted.model_dump()):
            series.data_source_id = source.id
            for name, value in fields.items():
                setattr(series, name, value)
        if taken_over and removal is not None and deleted_later:
            # made over the API, taken over by this apply, and its document deleted since: stopped as in order
            series.applied_at = series.stopped_at = removal.removed_at
    await session.flush()


async def on_openslo_removed(session: AsyncSession, event: CloudEvent) -> None:
    """Stop pulling the series only the deleted document wired; what was pulled stays, and an apply older than
    the deletion (redelivered late) does not start them again, a newer one does. A key with no series yet, or only one
    made over the API, is remembered with the deletion's time: its older apply consumed later creates no series, and
    one taking over the API's series stops it at once, as if consumed in order."""
    try:
        data = event.payload(OpenSLORemovedV1)
    except ValidationError as exc:
        raise PermanentError(f"invalid {event.type} payload: {exc}") from exc
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"openslo:{event.tenant}"})
    wanted = {(key.service, key.indicator) for key in data.pulled_series}
    held = list(await session.scalars(select(PulledSeries).where(col(PulledSeries.tenant) == event.tenant)))
    documents = {(series.service_key, series.indicator) for series in held if series.applied_at is not None}
    for service_key, indicator in wanted - documents:
        # its apply is not consumed yet (nak'd, redelivered later): remembered, so that older apply creates nothing
        # and, when it takes over a series made over the API, stops it at once
        removal = await session.get(RemovedSeries, (event.tenant, service_key, indicator))
        if removal is None:
            session.add(
                RemovedSeries(tenant=event.tenant, service_key=service_key, indicator=indicator, removed_at=event.time)
            )
        elif removal.removed_at < event.time:
            removal.removed_at = event.time  # consumed_at stays the first: an API row made since wins
    for series in held:
        # a series created over the API (never applied) is not the documents' to stop
        if (series.service_key, series.indicator) not in wanted or series.applied_at is None:
            continue
        if _newer(series.applied_at, event):
            continue
        series.applied_at = series.stopped_at = event.time
        logger.info(
            "pulled series %s/%s stopped: %s %s deleted", series.service_key, series.indicator, data.kind, data.name
        )
    await _stop_sources(session, event, data)
    await session.flush()


async def _stop_sources(session: AsyncSession, event: CloudEvent, data: OpenSLORemovedV1) -> None:
    """Stop querying the data sources only the deleted document defined; one registered over the API and never
    applied is not the documents' to stop (remembered instead, for an older apply that takes it over later)."""
    if not data.data_sources:
        return
    held = {
        source.name: source
        for source in await session.scalars(
            select(DataSource).where(
                col(DataSource.tenant) == event.tenant, col(DataSource.name).in_(data.data_sources)
            )
        )
    }
    for name in data.data_sources:
        source = held.get(name)
        if source is None or source.applied_at is None:
            removal = await session.get(RemovedDataSource, (event.tenant, name))
            if removal is None:
                session.add(RemovedDataSource(tenant=event.tenant, name=name, removed_at=event.time))
            elif removal.removed_at < event.time:
                removal.removed_at = event.time  # consumed_at stays the first: an API row made since wins
            continue
        if _newer(source.applied_at, event):
            continue
        source.applied_at = source.stopped_at = event.time
        logger.info("data source %s stopped: %s %s deleted", name, data.kind, data.name)


OPENSLO_HANDLERS: dict[str, Handler] = {
    EVENTS.openslo_applied.type: on_openslo_applied,
    EVENTS.openslo_removed.type: on_openslo_removed,
}
