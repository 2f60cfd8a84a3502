"""Notifier app and command line."""

from __future__ import annotations

from fastapi import FastAPI

from slm_notifier.config import Settings
from slm_notifier.escalation.router import router as notifications_router
from slm_notifier.escalation.worker import escalation_worker
from slm_notifier.event_types.router import router as event_types_router
from slm_notifier.events import HANDLERS
from slm_notifier.router import router
from slm_notifier.worker import delivery_worker
from slm_shared.app import ServiceDefinition, create_app
from slm_shared.cli import run

DEFINITION = ServiceDefinition(
    name="notifier",
    title="SLM Notifier",
    description=(
        "Subscriptions and reliable, signed deliveries of what matters (at risk, breached, recovered, agreement "
        "news) to webhooks, Slack, Teams, e-mail, ServiceNow, Jira Service Management and PagerDuty, with "
        "escalation of unacknowledged breaches."
    ),
    migrations_package="slm_notifier",
    routers=[router, notifications_router, event_types_router],
    handlers=HANDLERS,
    workers=[delivery_worker, escalation_worker],
)


def build_app(settings: Settings | None = None) -> FastAPI:
    return create_app(DEFINITION, settings or Settings())


def cli() -> int:
    return run(DEFINITION, Settings)


if __name__ == "__main__":
    raise SystemExit(cli())
