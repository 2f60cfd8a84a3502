"""Measurement app and command line."""

from __future__ import annotations

from fastapi import FastAPI

from slm_measurement.config import Settings
from slm_measurement.events import HANDLERS
from slm_measurement.router import router
from slm_measurement.worker import evaluation_worker
from slm_shared.app import ServiceDefinition, create_app
from slm_shared.cli import run

DEFINITION = ServiceDefinition(
    name="measurement",
    title="SLM Measurement",
    description="Delivered service levels: ingestion, rollups and objective evaluation.",
    migrations_package="slm_measurement",
    routers=[router],
    handlers=HANDLERS,
    workers=[evaluation_worker],
)


def build_app(settings: Settings | None = None) -> FastAPI:
    return create_app(DEFINITION, settings or Settings())


def cli() -> int:
    return run(DEFINITION, Settings)


if __name__ == "__main__":
    raise SystemExit(cli())
