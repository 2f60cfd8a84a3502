"""The baselines a competent plain implementation reaches: a bare JSON endpoint and a FastAPI + Core read.

Run under uvicorn by the read benchmark; `BENCH_DATABASE_URL` names the service's own database, and
`BENCH_BARE_BODY` a file holding the bytes `bare_page` answers with.

The Core app is written as a plain FastAPI + SQLAlchemy Core app is: each route declares its response
model (`ObjectiveOut`, `Page[ServiceOut]`), which FastAPI validates and serialises (a Core row's keys are
SQLAlchemy `quoted_name`s, which Pydantic serialises on a slow path when handed as a bare `dict[str, Any]`),
and its engine's pool holds as many connections as the load generator keeps open (`CONCURRENCY`), kept
between requests, as the services' own pools are.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from datetime import datetime
from pathlib import Path
from typing import Annotated, Any, Generic, Literal, TypeVar

from fastapi import FastAPI, HTTPException, Query, Response
from pydantic import BaseModel
from sqlalchemy import MetaData, Table, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.ext.asyncio import create_async_engine

from benchlib.loadgen import CONCURRENCY
from slm_shared.web.pagination import MAX_LIMIT, MAX_OFFSET

bare = FastAPI()


@bare.get("/objectives/{objective_id}")
async def bare_objective(objective_id: str) -> dict[str, Any]:
    """A constant JSON body: the floor of FastAPI + uvicorn."""
    return {"id": objective_id, "status": "met", "attainment": 0.9995, "objective": 0.999}


_BARE_BODY = Path(os.environ["BENCH_BARE_BODY"]).read_bytes() if "BENCH_BARE_BODY" in os.environ else b""
bare_page = FastAPI()


@bare_page.get("/services")
async def bare_services() -> Response:
    """The same bytes as the service list's page, read once at startup: the floor of FastAPI + uvicorn for
    a body of that size (no token, no query, no serialising, no ETag)."""
    return Response(_BARE_BODY, media_type="application/json")


# One pooled connection per connection of the load generator, none opened and closed per request (an
# in-memory SQLite database, only when no database is named, has a single static connection and no pool).
_URL = make_url(os.environ.get("BENCH_DATABASE_URL", "sqlite+aiosqlite://"))
POOL: dict[str, Any] = {} if _URL.database in (None, "", ":memory:") else {"pool_size": CONCURRENCY, "max_overflow": 0}
engine = create_async_engine(_URL, **POOL)
metadata = MetaData()
tables: dict[str, Table] = {}


@contextlib.asynccontextmanager
async def reflect(app: FastAPI) -> AsyncIterator[None]:
    """Load the two tables' columns from the service's database."""
    async with engine.connect() as connection:
        await connection.run_sync(
            metadata.reflect, only=["objectives"] if "measurement" in str(engine.url) else ["services"]
        )
    tables.update(metadata.tables)
    yield
    await engine.dispose()


core = FastAPI(lifespan=reflect)


class ObjectiveOut(BaseModel):
    """An objective row as the Core app answers it: every column of the table."""

    id: str
    tenant: str
    agreement_id: str
    agreement_version: int
    agreement_kind: str
    objective_id: str
    name: str | None
    service_key: str
    indicator: str
    indicator_kind: str
    target: float
    op: str | None
    window_kind: str
    window_duration: str | None
    window_unit: str | None
    window_timezone: str
    budgeting_method: str
    value: float | None
    timeslice_seconds: int | None
    timeslice_target: float | None
    maintenance_windows: list[dict[str, Any]]
    alert_policy: list[dict[str, Any]] | None
    forecast_lookbacks: list[str] | None
    at_risk_rule: str | None
    effective_from: datetime | None
    effective_to: datetime | None
    consumer_party_id: str | None
    scope: str | None
    observed: list[dict[str, Any]]
    active: bool
    ended: bool
    status: str
    last_event: str | None
    attainment: float | None
    good: float
    total: float
    details: dict[str, Any]
    firing_alerts: list[str]
    window_start: datetime | None
    window_end: datetime | None
    needs_evaluation: bool
    evaluated_at: datetime | None
    created_at: datetime
    updated_at: datetime


class ServiceOut(BaseModel):
    """A service row as the Core app answers it: every column of the table."""

    id: str
    tenant: str
    key: str
    name: str
    description: str
    type: str
    lifecycle: str
    owner_team: str | None
    owner_contact: str | None
    tags: list[str]
    configuration_items: list[dict[str, Any]]
    version: int
    created_at: datetime
    updated_at: datetime


T = TypeVar("T")


class Page(BaseModel, Generic[T]):
    """A page of rows and the total of the matching ones."""

    items: list[T]
    total: int
    limit: int
    offset: int


@core.get("/objectives/{objective_id}", response_model=ObjectiveOut)
async def core_objective(objective_id: str, tenant: str = "bench") -> Any:
    """One row by tenant and id through SQLAlchemy Core, returned as JSON."""
    objectives = tables["objectives"]
    query = select(objectives).where(objectives.c.tenant == tenant, objectives.c.objective_id == objective_id)
    async with engine.connect() as connection:
        row = (await connection.execute(query.limit(1))).mappings().first()
    if row is None:
        raise HTTPException(404)
    return row


@core.get("/services", response_model=Page[ServiceOut])
async def core_services(
    tenant: str = "bench",
    kind: Annotated[Literal["business", "technical"] | None, Query(alias="type")] = None,
    owner: Annotated[str | None, Query(max_length=200)] = None,
    sort: Literal["key", "-key", "name", "-name", "created_at", "-created_at", "updated_at", "-updated_at"] = "key",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> Any:
    """A page of services matching the filters and their total through SQLAlchemy Core, returned as JSON.

    The query string is validated by FastAPI (same bounds as the catalogue's) and means what it means there:
    type, owner team compared without case, the same sorts (ties broken by id), limit and offset."""
    services = tables["services"]
    matching = select(services).where(services.c.tenant == tenant)
    if kind is not None:
        matching = matching.where(services.c.type == kind)
    if owner:  # an empty owner filters nothing, as in the catalogue
        matching = matching.where(func.lower(services.c.owner_team) == owner.lower())
    column, row_id = services.c[sort.lstrip("-")], services.c.id  # the id breaks ties, as in the catalogue
    order = [column.desc(), row_id.desc()] if sort.startswith("-") else [column, row_id]
    query = matching.order_by(*order).limit(limit).offset(offset)
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).mappings().all()
        total = await connection.scalar(select(func.count()).select_from(matching.subquery()))
    return {"items": rows, "total": total, "limit": limit, "offset": offset}
