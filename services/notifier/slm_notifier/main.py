"""Notifier app and command line."""

from __future__ import annotations

import sys

from fastapi import FastAPI

from slm_notifier import retention
from slm_notifier.config import Settings
from slm_notifier.crypto import use_keyring
from slm_notifier.escalation.router import router as notifications_router
from slm_notifier.escalation.worker import escalation_worker
from slm_notifier.event_types.router import router as event_types_router
from slm_notifier.events import HANDLERS
from slm_notifier.itsm.changes import change_status_worker
from slm_notifier.openslo import OPENSLO_HANDLERS
from slm_notifier.rekey import rekey_cli
from slm_notifier.router import router
from slm_notifier.worker import delivery_worker
from slm_shared.app import ServiceDefinition, create_app
from slm_shared.cli import run
from slm_shared.contracts import EVENTS
from slm_shared.retention import retention_worker

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
    handlers=(HANDLERS, OPENSLO_HANDLERS),
    workers=[delivery_worker, escalation_worker, change_status_worker, retention_worker(retention.purges)],
    urgent_events=True,  # an event's notifications are what people wait on; the workers' writes can wait
    waited_on=(EVENTS.objective_breached.type,),  # a breach's delivery does not wait for its burn alerts
)


def load_settings() -> Settings:
    """The settings from the environment; their keyring is the one the encrypted columns use."""
    settings = Settings()
    use_keyring(settings.keyring)
    return settings


def build_app(settings: Settings | None = None) -> FastAPI:
    settings = settings or Settings()
    use_keyring(settings.keyring)
    return create_app(DEFINITION, settings)


def cli(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if args[:1] == ["rekey"]:
        return rekey_cli(load_settings(), args[1:])
    return run(DEFINITION, load_settings, args)


if __name__ == "__main__":
    raise SystemExit(cli())
