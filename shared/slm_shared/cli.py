"""The command line every service shares: `serve`, `worker` and `migrate`."""

from __future__ import annotations

import argparse
import asyncio
from collections.abc import Callable

import uvicorn

from slm_shared import migrations
from slm_shared.app import ServiceDefinition, create_app
from slm_shared.settings import ServiceSettings
from slm_shared.telemetry import setup_logging


def run(
    definition: ServiceDefinition, load_settings: Callable[[], ServiceSettings], argv: list[str] | None = None
) -> int:
    parser = argparse.ArgumentParser(prog=f"slm-{definition.name}", description=definition.title)
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="run the HTTP API and the workers")
    serve.add_argument("--no-migrate", action="store_true", help="do not apply migrations at start-up")
    worker = sub.add_parser("worker", help="run the workers with health and metrics only, no /v1 API")
    worker.add_argument("--no-migrate", action="store_true", help="do not apply migrations at start-up")
    sub.add_parser("migrate", help="apply database migrations and exit")
    args = parser.parse_args(argv)
    settings = load_settings()
    if args.command == "worker":
        settings = settings.model_copy(update={"serve_api": False, "run_workers": True})
    setup_logging(definition.name, settings.log_level)
    if args.command == "migrate":
        asyncio.run(migrations.upgrade(definition.migrations_package, settings.resolved_database_url))
        return 0
    app = create_app(definition, settings, auto_migrate=not args.no_migrate)
    uvicorn.run(
        app,
        host=settings.host,
        port=settings.port,
        log_config=None,
        timeout_graceful_shutdown=10,
        proxy_headers=True,
    )
    return 0
