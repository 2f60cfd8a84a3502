"""The command line every service shares: `serve`, `worker` and `migrate`."""

from __future__ import annotations

import argparse
import asyncio
import gc
from collections.abc import Callable
from typing import Any

import uvicorn
from fastapi import FastAPI

from slm_shared import migrations
from slm_shared.app import ServiceDefinition, create_app
from slm_shared.settings import ServiceSettings
from slm_shared.telemetry import setup_logging


def freeze_startup_objects() -> int:
    """Leave everything alive once the app is built (modules, classes, validators, routes) out of every later
    garbage collection; returns how many objects that is.

    A full collection walks every tracked object, and these live as long as the process, so walking them again
    frees nothing while it holds the event loop. Only for a process that serves one app and exits with it
    (`serve`, `worker`; `make run` starts one such process per service): nothing is unfrozen. An app started
    and stopped in-process (tests) runs no collection and no freeze.
    """
    gc.collect()  # what building the app left behind is freed, not frozen
    gc.freeze()
    return gc.get_freeze_count()


def build_for_serving(definition: ServiceDefinition, settings: ServiceSettings, *, auto_migrate: bool) -> FastAPI:
    """The app a `serve` or `worker` process runs under uvicorn, with what building it left frozen."""
    app = create_app(definition, settings, auto_migrate=auto_migrate)
    freeze_startup_objects()
    return app


# The HTTP server of every `serve` and `worker` process, and of the read benchmark's baselines (so a ratio
# compares apps, not servers): libuv's event loop and the llhttp parser (httptools), both C, where asyncio's own
# loop and the pure-Python h11 parser cost a hot read about a fifth of its CPU; the request head bounded.
SERVER_LOOP = "uvloop"
SERVER_HTTP = "slm_shared.web.http_protocol:BoundedHttpToolsProtocol"
# Once told to stop, requests in flight get this long to finish; the Kubernetes manifests' grace periods allow for it.
DRAIN_SECONDS = 10


def server_options(settings: ServiceSettings) -> dict[str, Any]:
    """How uvicorn serves a service's app (keywords of `uvicorn.run` and `uvicorn.Config`): made only here."""
    return {
        "host": settings.host,
        "port": settings.port,
        "loop": SERVER_LOOP,
        "http": SERVER_HTTP,
        "log_config": None,
        "timeout_graceful_shutdown": DRAIN_SECONDS,
        "proxy_headers": True,
    }


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
    app = build_for_serving(definition, settings, auto_migrate=not args.no_migrate)
    uvicorn.run(app, **server_options(settings))
    return 0
