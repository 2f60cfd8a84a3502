"""Agreements app and command line."""

from __future__ import annotations

from fastapi import FastAPI

from slm_agreements.config import Settings
from slm_agreements.events import HANDLERS
from slm_agreements.router import router
from slm_shared.app import ServiceDefinition, create_app
from slm_shared.cli import run

DEFINITION = ServiceDefinition(
    name="agreements",
    title="SLM Agreements",
    description="Parties and service level agreements (SLA, OLA, UC, expectations) through their lifecycle.",
    migrations_package="slm_agreements",
    routers=[router],
    handlers=HANDLERS,
)


def build_app(settings: Settings | None = None) -> FastAPI:
    return create_app(DEFINITION, settings or Settings())


def cli() -> int:
    return run(DEFINITION, Settings)


if __name__ == "__main__":
    raise SystemExit(cli())
