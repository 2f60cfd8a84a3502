"""Liveness and readiness endpoints."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel

router = APIRouter(tags=["operations"])


class Health(BaseModel):
    status: str
    checks: dict[str, str] = {}


@router.get("/healthz", response_model=Health)
async def healthz() -> Health:
    """The process is alive."""
    return Health(status="ok")


@router.get("/readyz", response_model=Health, responses={503: {"model": Health}})
async def readyz(request: Request) -> JSONResponse:
    """The database is reachable and migrated, and NATS too where this process runs workers."""
    checks: dict[str, str] = {}
    try:
        await request.app.state.db.ping()
        checks["database"] = "ok"
    except Exception as exc:  # noqa: BLE001 - any failure means not ready
        checks["database"] = f"unavailable: {type(exc).__name__}"
    head = getattr(request.app.state, "schema_head", None)
    if head is not None and checks["database"] == "ok":
        checks["schema"] = await _schema_check(request, head)
    if request.app.state.settings.run_workers:  # an API-only process never uses NATS
        checks["nats"] = "ok" if request.app.state.bus.is_connected else "unavailable"
    ready = all(value == "ok" for value in checks.values())
    body = Health(status="ready" if ready else "unavailable", checks=checks)
    return JSONResponse(body.model_dump(), status_code=200 if ready else 503)


async def _schema_check(request: Request, head: str) -> str:
    """Whether the database is at the migrations' head (a pod is not ready before its migration)."""
    try:
        async with request.app.state.db.engine.connect() as connection:
            current = (await connection.exec_driver_sql("SELECT version_num FROM alembic_version")).scalar()
    except Exception:  # noqa: BLE001 - no version table yet
        return "not migrated"
    return "ok" if current == head else f"at {current}, expected {head}"
