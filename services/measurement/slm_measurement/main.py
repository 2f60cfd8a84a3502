"""Measurement app and command line."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from fastapi import FastAPI

from slm_measurement import retention
from slm_measurement.catalog_keys import CATALOG_KEY_HANDLERS
from slm_measurement.chain.router import router as chain_router
from slm_measurement.config import Settings
from slm_measurement.evaluator import SLICE_CACHE
from slm_measurement.events import HANDLERS
from slm_measurement.failures_router import router as failures_router
from slm_measurement.ingest_router import router as ingest_router
from slm_measurement.nats_ingest import CONSUMER as INGEST_CONSUMER
from slm_measurement.nats_ingest import nats_ingest_worker
from slm_measurement.nats_ingest import replayer as ingest_replayer
from slm_measurement.observations.router import router as observations_router
from slm_measurement.portfolio.router import router as portfolio_router
from slm_measurement.pull.openslo import OPENSLO_HANDLERS
from slm_measurement.pull.router import router as pull_router
from slm_measurement.pull.worker import pull_worker
from slm_measurement.reports.router import router as reports_router
from slm_measurement.reports.worker import report_ready_worker
from slm_measurement.router import OBJECTIVE_BODIES, router
from slm_measurement.tickets.router import router as tickets_router
from slm_measurement.tickets.worker import ticket_clock_worker
from slm_measurement.worker import evaluation_worker
from slm_measurement.working_router import router as working_router
from slm_shared.app import ServiceDefinition, create_app
from slm_shared.cli import run
from slm_shared.retention import retention_worker

DEFINITION = ServiceDefinition(
    name="measurement",
    title="SLM Measurement",
    description=(
        "Delivered service levels: ingestion, rollups, objective evaluation, burn-rate alerts and forecasts;"
        " ticket SLA clocks; service reports and credits."
    ),
    migrations_package="slm_measurement",
    routers=[
        ingest_router,
        router,
        working_router,
        tickets_router,
        reports_router,
        failures_router,
        pull_router,
        observations_router,
        chain_router,
        portfolio_router,
    ],
    handlers=(HANDLERS, CATALOG_KEY_HANDLERS, OPENSLO_HANDLERS),
    workers=[
        evaluation_worker,
        nats_ingest_worker,
        ticket_clock_worker,
        report_ready_worker,
        pull_worker,
        retention_worker(retention.purges),
    ],
    replayers={INGEST_CONSUMER: ingest_replayer},
)


# Where `configured` applies a setting process-wide, as (object, attribute), in the order of its values.
_APPLIED: tuple[tuple[Any, str], ...] = ((SLICE_CACHE, "lateness"), (OBJECTIVE_BODIES, "size"))


def configured(settings: Settings) -> Settings:
    """Apply the settings the domain reads outside a request: the lateness behind which slice tallies are cached,
    and how many objective rows' bodies are kept."""
    values = (timedelta(seconds=settings.max_lateness_seconds), settings.objective_bodies)
    for (target, name), value in zip(_APPLIED, values, strict=True):
        setattr(target, name, value)
    return settings


def applied_settings() -> Callable[[], None]:
    """What `configured` has applied, captured now; the callable returned puts it back.

    A process applies its settings once, but tests build apps with settings of their own: one must not leave
    them to the tests after it, whichever setting `configured` comes to apply.
    """
    saved = [(target, name, getattr(target, name)) for target, name in _APPLIED]

    def restore() -> None:
        for target, name, value in saved:
            setattr(target, name, value)

    return restore


def build_app(settings: Settings | None = None) -> FastAPI:
    return create_app(DEFINITION, configured(settings or Settings()))


def cli() -> int:
    return run(DEFINITION, lambda: configured(Settings()))


if __name__ == "__main__":
    raise SystemExit(cli())
