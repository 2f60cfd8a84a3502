"""The services and indicators the catalogue knows, kept from its events, and the check ingest makes against them.

Points for a series the catalogue does not know are refused (422 naming the point's field), or, where
`MEASUREMENT_UNKNOWN_SERIES=warn`, stored with a warning in the answer. Never silently stored.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Literal

from sqlalchemy import Boolean, Float, String, bindparam, delete, literal, null, select, union
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from slm_measurement import bound_lists, thresholds
from slm_measurement.ingest import Batch, ColumnarBatch
from slm_measurement.models import Objective
from slm_measurement.rollup import value_series
from slm_measurement.thresholds import Thresholds
from slm_shared.bus import Handler
from slm_shared.bus.dead_letters import PermanentError
from slm_shared.contracts import EVENTS, CloudEvent
from slm_shared.contracts.indicators import STANDARD_INDICATOR_KEYS
from slm_shared.errors import FieldError, Unprocessable

UnknownSeries = Literal["refuse", "warn"]
SERVICE, INDICATOR = "service", "indicator"


class CatalogKey(SQLModel, table=True):
    """A service key or indicator key that exists in a tenant's catalogue."""

    __tablename__ = "catalog_keys"

    tenant: str = Field(max_length=64, primary_key=True)
    kind: str = Field(max_length=16, primary_key=True)
    key: str = Field(max_length=128, primary_key=True)


async def _remember(session: AsyncSession, *, tenant: str, kind: str, key: str) -> None:
    insert = pg_insert if session.bind.dialect.name == "postgresql" else sqlite_insert
    statement = insert(CatalogKey).values(tenant=tenant, kind=kind, key=key).on_conflict_do_nothing()
    await session.execute(statement)


def _key_of(event: CloudEvent) -> str:
    key = event.data.get("key")
    if not isinstance(key, str) or not key:
        raise PermanentError(f"{event.type} carries no key")
    return key


async def on_service_known(session: AsyncSession, event: CloudEvent) -> None:
    """A service was created (or changed): points for it are accepted from now on."""
    await _remember(session, tenant=event.tenant, kind=SERVICE, key=_key_of(event))


async def on_indicator_known(session: AsyncSession, event: CloudEvent) -> None:
    """An indicator was created (or changed)."""
    await _remember(session, tenant=event.tenant, kind=INDICATOR, key=_key_of(event))


async def on_indicator_deleted(session: AsyncSession, event: CloudEvent) -> None:
    """An indicator was deleted: points for it are unknown again."""
    await session.execute(
        delete(CatalogKey).where(
            col(CatalogKey.tenant) == event.tenant,
            col(CatalogKey.kind) == INDICATOR,
            col(CatalogKey.key) == _key_of(event),
        )
    )


def _series(batch: Batch) -> Iterable[tuple[str, str, str]]:
    """(where, service, indicator) of every point or column of the batch."""
    if isinstance(batch, ColumnarBatch):
        for index, columns in enumerate(batch.series):
            yield f"series[{index}]", columns.service, columns.indicator
    else:
        for index, point in enumerate(batch):
            yield f"[{index}]", point.service, point.indicator


async def check_batch(session: AsyncSession, *, tenant: str, batch: Batch, mode: UnknownSeries) -> list[str]:
    """Refuse a batch naming a service or indicator the catalogue does not know; in `warn` mode, say which."""
    warnings, _ = await check_batch_in_force(session, tenant=tenant, batch=batch, mode=mode)
    return warnings


# Objectives name catalogue services and indicators too: what was measured before this read model existed.
# One round trip: the objectives' rows, then the catalogue keys' (kind and key in the first two columns); UNION:
# the objectives distinct. Built once per dialect, its tenant and lists bound per batch (each list one parameter,
# `bound_lists`: a batch may name more services than a statement takes parameters): every REST ingest runs it.
def _objectives_and_keys(postgres: bool) -> Any:
    return union(
        select(
            literal(False).label("is_key"),
            col(Objective.service_key),
            col(Objective.indicator),
            col(Objective.indicator_kind),
            col(Objective.ended),
            col(Objective.op),
            col(Objective.value),
        ).where(
            col(Objective.tenant) == bindparam("tenant"),
            bound_lists.is_in(col(Objective.service_key), "services", postgres=postgres),
        ),
        select(
            literal(True),
            col(CatalogKey.kind),
            col(CatalogKey.key),
            null().cast(String),
            null().cast(Boolean),
            null().cast(String),
            null().cast(Float),
        ).where(
            col(CatalogKey.tenant) == bindparam("tenant"),
            bound_lists.is_in(col(CatalogKey.key), "keys", postgres=postgres),
        ),
    )


_OBJECTIVES_AND_KEYS = {postgres: _objectives_and_keys(postgres) for postgres in (False, True)}


async def check_batch_in_force(
    session: AsyncSession, *, tenant: str, batch: Batch, mode: UnknownSeries
) -> tuple[list[str], Thresholds]:
    """`check_batch`, and the thresholds in force on the batch's value series from the same read of its objectives.

    Ingest reads the objectives of the batch's services once: for the keys they name and for their thresholds.
    """
    series = list(_series(batch))
    services = {service for _, service, _ in series}
    indicators = {indicator for _, _, indicator in series} - STANDARD_INDICATOR_KEYS
    values = {"tenant": tenant, "services": sorted(services), "keys": sorted(services | indicators)}
    statement = _OBJECTIVES_AND_KEYS[session.get_bind().dialect.name == "postgresql"]
    rows = [tuple(row) for row in await session.execute(statement, values)]
    known = {(kind, key) for is_key, kind, key, *_ in rows if is_key}
    objectives = [tuple(row[1:]) for row in rows if not row[0]]
    for service, indicator, *_ in objectives:
        known |= {(SERVICE, service), (INDICATOR, indicator)}
    errors: list[FieldError] = []
    reported: set[tuple[str, str]] = set()
    for where, service, indicator in series:
        if (SERVICE, service) not in known and (SERVICE, service) not in reported:
            reported.add((SERVICE, service))
            errors.append(FieldError(field=f"{where}.service", message=f"the catalogue has no service {service!r}"))
        if indicator in indicators and (INDICATOR, indicator) not in known and (INDICATOR, indicator) not in reported:
            reported.add((INDICATOR, indicator))
            errors.append(
                FieldError(field=f"{where}.indicator", message=f"the catalogue has no indicator {indicator!r}")
            )
    if errors and mode == "refuse":
        raise Unprocessable(
            "The batch names services or indicators the catalogue does not know; nothing was stored", errors=errors
        )
    force = thresholds.of_objectives(objectives, value_series(batch))
    return [f"{error.field}: {error.message}" for error in errors], force


CATALOG_KEY_HANDLERS: dict[str, Handler] = {
    EVENTS.service_created.type: on_service_known,
    EVENTS.service_updated.type: on_service_known,
    EVENTS.indicator_created.type: on_indicator_known,
    EVENTS.indicator_updated.type: on_indicator_known,
    EVENTS.indicator_deleted.type: on_indicator_deleted,
}
