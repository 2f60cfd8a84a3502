"""On SQLite the notifier applies a consumed event ahead of background writers waiting for the writer turn:
a breach's notification does not queue behind claim rounds, attempt records or housekeeping."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from conftest import FAST, objective_status, wait_until
from sqlalchemy import text

from slm_notifier.config import Settings
from slm_notifier.main import build_app
from slm_shared.contracts import EVENTS, CloudEvent
from slm_shared.db import Database, WriterQueue
from slm_shared.testing.app_client import running_app
from slm_shared.testing.nats_server import NatsServer
from slm_shared.testing.pytest_plugin import make_token

INBOX_ROWS = text("SELECT count(*) FROM inbox WHERE event_id = :event_id")


@pytest.fixture
def database_url(sqlite_url: str) -> str:
    """SQLite only: PostgreSQL has no writer turn (its writers run side by side)."""
    return sqlite_url


def breach(tenant: str, n: int) -> CloudEvent:
    return EVENTS.objective_breached.build(
        tenant=tenant, data=objective_status(agreement_id=f"agr-{n}", objective_id=f"obj-{n}")
    )


async def applied(db: Database, event: CloudEvent) -> bool:
    async with db.session(read_only=True) as session:
        return bool(await session.scalar(INBOX_ROWS, {"event_id": event.id}))


def queue_of(db: Database) -> WriterQueue:
    queue = db.writer_queue
    assert queue is not None  # taken by the app's first write (migrations, workers)
    return queue


async def test_an_event_is_applied_before_background_writers_that_were_waiting_first(
    database_url: str, nats_server: NatsServer, tenant: str, publish: Callable[..., Awaitable[CloudEvent]]
) -> None:
    settings = Settings(database_url=database_url, **nats_server.service_login("notifier"), environment="test", **FAST)
    app = build_app(settings)
    async with running_app(app, token=make_token(tenant)):
        db: Database = app.state.db
        # the consumer has caught up with the stream (events other tests left included)
        warm_up = await publish(breach(tenant, 0))
        await wait_until(lambda: applied(db, warm_up), timeout=30)
        # after a message the consumer drains with short batch fetches before its lone lingering pull; an event
        # arriving in such a batch is not fetched on its own (not urgent): let it settle into the lone pull
        await asyncio.sleep(1.0)

        release = asyncio.Event()
        seen: list[tuple[str, int]] = []
        event = breach(tenant, 1)

        async def holder() -> None:
            async with db.session() as session:
                await session.execute(text("SELECT 1"))
                await release.wait()

        async def background_writer(name: str) -> None:
            async with db.session() as session:
                seen.append((name, int(await session.scalar(INBOX_ROWS, {"event_id": event.id}) or 0)))

        tasks: list[asyncio.Task[Any]] = [asyncio.create_task(holder())]
        await wait_until(lambda: _true(queue_of(db).locked()), timeout=10)
        for name in ("writer 1", "writer 2"):
            tasks.append(asyncio.create_task(background_writer(name)))
        await wait_until(lambda: _true(queue_of(db).waiting(urgent=False) >= 2), timeout=10)

        await publish(event)
        # the consumer now waits for the turn among the urgent writers (were it an ordinary one, it would wait
        # behind ours: the turn is then handed on after this wait gives up)
        with contextlib.suppress(AssertionError):
            await wait_until(lambda: _true(queue_of(db).waiting(urgent=True) >= 1), timeout=15)
        release.set()
        await asyncio.gather(*tasks)
        await wait_until(lambda: applied(db, event), timeout=10)

    assert [name for name, _ in seen] == ["writer 1", "writer 2"]
    assert seen == [("writer 1", 1), ("writer 2", 1)], "the background writers got the turn before the event"


async def _true(value: bool) -> bool:
    return value
