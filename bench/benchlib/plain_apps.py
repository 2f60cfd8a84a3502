"""The baselines a competent plain implementation reaches: a bare JSON endpoint and a FastAPI + Core read.

Run under uvicorn by the read benchmark; `BENCH_DATABASE_URL` names the service's own database, and
`BENCH_BARE_BODY` a file holding the bytes `bare_page` answers with.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Response
from sqlalchemy import MetaData, Table, func, select
from sqlalchemy.ext.asyncio import create_async_engine

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
async def core_services(tenant: str = "bench", limit: int = 50) -> dict[str, Any]:
    """A page of services and their total through SQLAlchemy Core, returned as JSON."""
    services = tables["services"]
    query = select(services).where(services.c.tenant == tenant).order_by(services.c.key).limit(limit)
    async with engine.connect() as connection:
        rows = (await connection.execute(query)).mappings().all()
        total = await connection.scalar(select(func.count()).select_from(services).where(services.c.tenant == tenant))
    return {"items": [dict(r) for r in rows], "total": total, "limit": limit, "offset": 0}
