"""Agreements app and command line."""

from __future__ import annotations

from fastapi import FastAPI

from slm_agreements.actions.router import router as actions_router
from slm_agreements.config import Settings
from slm_agreements.events import handler_tables
from slm_agreements.jobs import scheduled_jobs
from slm_agreements.negotiation.router import router as negotiation_router
from slm_agreements.reviews.router import router as reviews_router
from slm_agreements.router import router
from slm_shared.app import ServiceDefinition, create_app
from slm_shared.cli import run
from slm_shared.retention import retention_worker

DEFINITION = ServiceDefinition(
    name="agreements",
    title="SLM Agreements",
    description="Parties and service level agreements (SLA, OLA, UC, expectations): negotiation, versions, "
    "activation rules, reviews and improvement actions.",
    migrations_package="slm_agreements",
    routers=[router, negotiation_router, reviews_router, actions_router],
    handlers=handler_tables(),
    workers=[scheduled_jobs, retention_worker()],
)


def build_app(settings: Settings | None = None) -> FastAPI:
    return create_app(DEFINITION, settings or Settings())


def cli() -> int:
    return run(DEFINITION, Settings)


if __name__ == "__main__":
    raise SystemExit(cli())
