"""The baselines a competent plain implementation reaches: a bare JSON endpoint and a FastAPI + Core read.

Run under uvicorn by the read benchmark; `BENCH_DATABASE_URL` names the service's own database, and
`BENCH_BARE_BODY` a file holding the bytes `bare_page` answers with.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any, Literal

from fastapi import FastAPI, HTTPException, Query, Response
from sqlalchemy import MetaData, Table, func, select
from sqlalchemy.ext.asyncio import create_async_engine

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


engine = create_async_engine(os.environ.get("BENCH_DATABASE_URL", "sqlite+aiosqlite://"))
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


@core.get("/objectives/{objective_id}")
async def core_objective(objective_id: str, tenant: str = "bench") -> dict[str, Any]:
    """One row by tenant and id through SQLAlchemy Core, returned as JSON."""
    objectives = tables["objectives"]
    query = select(objectives).where(objectives.c.tenant == tenant, objectives.c.objective_id == objective_id)
    async with engine.connect() as connection:
        row = (await connection.execute(query.limit(1))).mappings().first()
    if row is None:
        raise HTTPException(404)
    return dict(row)


@core.get("/services")
async def core_services(
    tenant: str = "bench",
    type: Literal["business", "technical"] | None = None,
    owner: Annotated[str | None, Query(max_length=200)] = None,
    sort: Literal["key", "-key", "name", "-name", "created_at", "-created_at", "updated_at", "-updated_at"] = "key",
    limit: Annotated[int, Query(ge=1, le=MAX_LIMIT)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> dict[str, Any]:
    """A page of services matching the filters and their total through SQLAlchemy Core, returned as JSON.

    The query string is validated by FastAPI (same bounds as the catalogue's) and means what it means there:
    type, owner team compared without case, the same sorts (ties broken by id), limit and offset."""
    services = tables["services"]
    matching = select(services).where(services.c.tenant == tenant)
    if type is not None:
        matching = matching.where(services.c.type == type)
    if owner is not None:
        matching = matching.where(func.lower(services.c.owner_team) == owner.lower())
    column, row_id = services.c[sort.lstrip("-")], services.c.id  # the id breaks ties, as in the catalogue
    order = [column.desc(), row_id.desc()] if sort.startswith("-") else [column, row_id]
    query = matching.order_by(*order).limit(limit).offset(offset)
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).mappings().all()
        total = await connection.scalar(select(func.count()).select_from(matching.subquery()))
    return {"items": [dict(r) for r in rows], "total": total, "limit": limit, "offset": offset}
