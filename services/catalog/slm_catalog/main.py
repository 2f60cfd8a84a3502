"""Catalog app and command line."""

from __future__ import annotations

from fastapi import FastAPI

from slm_catalog.config import Settings
from slm_catalog.openslo.router import router as openslo_router
from slm_catalog.router import ROUTERS
from slm_shared.app import ServiceDefinition, create_app
from slm_shared.cli import run
from slm_shared.retention import retention_worker

DEFINITION = ServiceDefinition(
    name="catalog",
    title="SLM Catalog",
    description="The service catalogue: services, priced service-level tiers and their targets.",
    migrations_package="slm_catalog",
    routers=[*ROUTERS, openslo_router],
    workers=[retention_worker()],
)


def build_app(settings: Settings | None = None) -> FastAPI:
    return create_app(DEFINITION, settings or Settings())


def cli() -> int:
    return run(DEFINITION, Settings)


if __name__ == "__main__":
    raise SystemExit(cli())
