"""The composition root every service uses: database, bus, workers, HTTP plumbing."""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Collection, Coroutine, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from fastapi import APIRouter, FastAPI
from fastapi_offline import FastAPIOffline

from slm_shared import migrations
from slm_shared.auth import TokenVerifier
from slm_shared.bus import Bus, Consumer, DeadLetter, Handler, OutboxRelay, chain_handlers
from slm_shared.bus.dead_letters import replay
from slm_shared.db import Database
from slm_shared.errors import install_error_handlers
from slm_shared.settings import ServiceSettings
from slm_shared.tasks import TaskGroup, run_within
from slm_shared.telemetry import TraceContextMiddleware, exporting, instrument_app, setup_tracing
from slm_shared.web import dead_letters, health, outbox
from slm_shared.web.body_limit import BodySizeLimitMiddleware
from slm_shared.web.metrics import HttpMetrics, MetricsMiddleware, metrics_router
from slm_shared.web.nul_guard import NulRefusedMiddleware

logger = logging.getLogger(__name__)


@dataclass
class ServiceContext:
    """What a running service holds; workers receive it."""

    settings: ServiceSettings
    db: Database
    bus: Bus
    relay: OutboxRelay
    consumer: Consumer | None
    extras: dict[str, Any] = field(default_factory=dict)
    tasks: TaskGroup = field(default_factory=TaskGroup)
    replayers: dict[str, Replayer] = field(default_factory=dict)


Worker = Callable[[ServiceContext], Coroutine[Any, Any, None]]
Replayer = Callable[[DeadLetter], Awaitable[None]]


@dataclass
class ServiceDefinition:
    """Everything that makes one service: its routers, consumed events and workers."""

    name: str
    title: str
    description: str
    migrations_package: str
    routers: Sequence[APIRouter]
    # Tables of consumed event types to handlers; where two tables name one type, both handlers
    # run, in the order given, in the event's one transaction.
    handlers: Sequence[Mapping[str, Handler]] = ()
    workers: Sequence[Worker] = ()
    version: str = "0.1.0"
    # Consumer name to what applies its dead letters again (the event consumer's is added by itself).
    replayers: Mapping[str, Callable[[ServiceContext], Replayer]] = field(default_factory=dict)
    # Consumed events are on a latency goal (e.g. breach to notification): on SQLite an event fetched on its own,
    # and a batch's part ending with its first `waited_on` event, take the writer turn ahead of the service's
    # queued background writers (the rest of a batch waits its turn).
    urgent_events: bool = False
    # Consumed event types someone waits on: a batch commits just after the first of them (see `bus.inbox.Consumer`).
    waited_on: Collection[str] = ()


async def _connect_bus(context: ServiceContext) -> None:
    await context.bus.connect()
    try:
        await context.bus.ensure_platform_streams()
    except Exception as exc:  # noqa: BLE001 - consumers and the relay retry on their own
        logger.warning("stream provisioning deferred: %s", exc)


async def shutdown(context: ServiceContext) -> list[str]:
    """Stop the workers, then the bus, then the database, each within a bound; returns abandoned task names."""
    abandoned = await context.tasks.stop()
    await context.bus.close(within=context.settings.shutdown_grace_seconds)
    if not await run_within(context.db.dispose(), seconds=2.0, name="database-dispose"):
        abandoned.append("database-dispose")
    return abandoned


def create_app(definition: ServiceDefinition, settings: ServiceSettings, *, auto_migrate: bool = True) -> FastAPI:
    """Build a service's FastAPI app; its lifespan starts and stops everything it owns."""
    setup_tracing(definition.name)
    metrics = HttpMetrics(definition.name)

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        url = settings.resolved_database_url
        if auto_migrate:
            await migrations.upgrade(definition.migrations_package, url)
        db = Database(url)
        instrument_app(app, db.engine)
        bus = Bus(
            settings.nats_url,
            name=definition.name,
            stream_replicas=settings.nats_stream_replicas,
            credentials=settings.nats_credentials,
        )
        relay = OutboxRelay(
            db, bus, poll_seconds=settings.outbox_poll_seconds, max_attempts=settings.outbox_max_attempts
        )
        consumer = (
            Consumer(
                db,
                bus,
                name=definition.name,
                handlers=chain_handlers(*definition.handlers),
                max_deliveries=settings.consumer_max_deliveries,
                retry_delay=settings.consumer_retry_delay_seconds,
                urgent=definition.urgent_events,
                waited_on=definition.waited_on,
            )
            if any(definition.handlers)
            else None
        )
        context = ServiceContext(settings=settings, db=db, bus=bus, relay=relay, consumer=consumer)
        if consumer is not None:
            context.replayers[consumer.name] = functools.partial(replay, consumer)
        for consumer_name, make_replayer in definition.replayers.items():
            context.replayers[consumer_name] = make_replayer(context)
        app.state.context = context
        app.state.db, app.state.bus, app.state.relay, app.state.consumer = db, bus, relay, consumer
        metrics.add_counter_source("slm_outbox_published", "events published from the outbox", lambda: relay.published)
        metrics.add_counter_source(
            "slm_outbox_duplicates",
            "outbox rows published again that JetStream already held (same Nats-Msg-Id) and dropped",
            lambda: relay.duplicates,
        )
        metrics.add_counter_source(
            "slm_outbox_given_up", "outbox rows the relay gave up on after their attempts", lambda: relay.given_up
        )
        if consumer is not None:
            metrics.add_counter_source("slm_inbox_applied", "events applied by the consumer", lambda: consumer.applied)

        tasks = TaskGroup(grace_seconds=settings.shutdown_grace_seconds)
        context.tasks = tasks
        if settings.run_workers:
            tasks.start(_connect_bus(context), name="bus-connect")
            tasks.start(relay.run(), name="outbox-relay")
            if consumer is not None:
                for stream, subjects in consumer.subscriptions().items():
                    tasks.start(consumer.consume(stream, subjects), name=f"consumer-{stream}")
            for worker in definition.workers:
                tasks.start(worker(context), name=getattr(worker, "__name__", "worker"))
        try:
            yield
        finally:
            await shutdown(context)

    # Swagger UI and ReDoc assets come from an installed package: /docs works with no internet.
    app = FastAPIOffline(
        title=definition.title,
        description=definition.description,
        version=definition.version,
        lifespan=lifespan,
        # FastAPI's native telemetry records SDK spans whenever a tracer provider is installed,
        # exporter or not; without one they cost ~15% of a hot read and go nowhere.
        telemetry=None if exporting() else {"tracing": False, "metrics": False, "logs": False},
    )
    app.state.settings = settings
    app.state.schema_head = migrations.head_revision(definition.migrations_package)
    app.state.token_verifier = TokenVerifier(
        secret=settings.jwt_secret,
        jwks_url=settings.jwks_url,
        audience=settings.jwt_audience,
        issuer=settings.jwt_issuer,
        service_key=settings.service_token_key,
    )
    install_error_handlers(app)
    app.add_middleware(NulRefusedMiddleware)
    app.add_middleware(
        BodySizeLimitMiddleware,
        max_bytes=settings.max_body_bytes,
        routes=app.router.routes,  # read on a refusal, with every router included below
    )
    app.add_middleware(MetricsMiddleware, metrics=metrics)
    if not exporting():
        app.add_middleware(TraceContextMiddleware)
    app.include_router(health.router)
    app.include_router(metrics_router(metrics))
    if settings.serve_api:
        for router in definition.routers:
            app.include_router(router)
        app.include_router(outbox.router)
        if any(definition.handlers) or definition.replayers:
            app.include_router(dead_letters.router)
    return app
