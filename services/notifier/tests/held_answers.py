"""Set-up of the ride-along tests: a running worker, the statements sent counted, and an answer read but held
back from the recorder's write, so the next breach's commit takes it along."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

from conftest import objective_status, wait_until
from receivers import Received, Receiver
from sqlalchemy import event, select, text
from test_attempt_recorder import claimed_deliveries, result

from slm_notifier.config import Settings
from slm_notifier.matching import EventFacts
from slm_notifier.models import Delivery, Subscription
from slm_notifier.queued import queue_deliveries
from slm_notifier.service import delivery_row, fan_out
from slm_notifier.signing import new_secret
from slm_notifier.worker import DeliveryWorker
from slm_shared.contracts import EVENTS, CloudEvent
from slm_shared.db import Database, utcnow
from slm_shared.migrations import upgrade


@contextlib.asynccontextmanager
async def worker_on(database_url: str, **settings: Any) -> AsyncIterator[tuple[Database, DeliveryWorker]]:
    """A running delivery worker (no poll in the test's time: every send here starts from a commit)."""
    await upgrade("slm_notifier", database_url)
    db = Database(database_url)
    values = {"environment": "test", "allow_private_targets": True, "delivery_poll_seconds": 60.0, **settings}
    worker = DeliveryWorker(db, Settings(database_url=database_url, **values))
    task = asyncio.create_task(worker.run())
    try:
        await asyncio.sleep(0.2)  # registered and running
        yield db, worker
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
        await db.dispose()


@contextlib.contextmanager
def statements(db: Database) -> Iterator[list[str]]:
    """Every statement sent to the database (as the driver gets it), and "COMMIT" for each commit, in order."""
    seen: list[str] = []

    def _statement(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(" ".join(statement.split()))

    def _commit(_conn: Any) -> None:
        seen.append("COMMIT")

    engine = db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", _statement)
    event.listen(engine, "commit", _commit)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", _statement)
        event.remove(engine, "commit", _commit)


def kinds(statements: list[str]) -> list[str]:
    """Each statement's start (up to its column list or SET)."""
    return [statement.split(" (")[0].split(" SET")[0] for statement in statements]


async def subscribe(db: Database, tenant: str, url: str) -> None:
    async with db.session() as session:
        session.add(
            Subscription(
                tenant=tenant, name="ops", event_types=["slm.measurement.*"], target={"url": url}, secret=new_secret()
            )
        )


def breach(tenant: str, n: int) -> tuple[CloudEvent, EventFacts]:
    event = EVENTS.objective_breached.build(tenant=tenant, data=objective_status(objective_id=f"obj-{n}"))
    facts = EventFacts(event_type=event.type, service_key="payments", agreement_id="agr-1", severity="critical")
    return event, facts


async def status_of(db: Database, delivery_id: str) -> str | None:
    async with db.session(read_only=True) as session:
        return await session.scalar(select(Delivery.status).where(Delivery.id == delivery_id))  # type: ignore[arg-type]


async def status_is(db: Database, delivery_id: str, status: str) -> bool:
    return await status_of(db, delivery_id) == status


async def fan_out_urgent(db: Database, event_: CloudEvent, facts: EventFacts, *, queued_first: bool = False) -> None:
    async with db.session(urgent=True) as session:
        if queued_first:  # unclaimed: written at the commit, ahead of the answers riding along
            subscription_id = await session.scalar(select(Subscription.id).where(Subscription.tenant == event_.tenant))  # type: ignore[arg-type]
            assert subscription_id is not None
            other, _ = breach(event_.tenant, 3)
            await queue_deliveries(session, [delivery_row(other, subscription_id, utcnow())])
        await fan_out(session, event_, facts)


async def a_second_breach_takes_the_answer_along(
    db: Database,
    worker: DeliveryWorker,
    receiver: Receiver,
    tenant: str,
    answer: asyncio.Event,
    *,
    requests: int,
    queued_first: bool = False,
) -> tuple[Received, list[str]]:
    """The tenant subscribed to `receiver`; a breach's webhook answered (`answer` lets the receiver answer) while
    the recorder cannot write it yet (`answer_held_back`); then a second breach commits and takes it along.

    `queued_first`: the second breach's transaction first queues a delivery of another event to the
    subscription unclaimed (as fan-out does when the worker has no room), so the deliveries are written at
    its commit before the answer rides along in it.

    Returns the first request and the statements sent from the second breach's transaction until `requests`
    requests have arrived (its "COMMIT" among them)."""
    await subscribe(db, tenant, receiver.url())
    first, release, holding = await answer_held_back(db, worker, receiver, tenant, answer)
    sqlite = db.engine.dialect.name == "sqlite"
    with statements(db) as seen:
        second = asyncio.create_task(fan_out_urgent(db, *breach(tenant, 2), queued_first=queued_first))
        await asyncio.sleep(0)
        if sqlite:
            release.set()  # the second breach has the writer turn next (urgent): ahead of the recorder
        await second
        await receiver.wait_for(requests)
        sent = list(seen)
    release.set()  # PostgreSQL: the recorder's earlier write goes on once the second breach has committed
    await holding
    if sqlite:
        sent = sent[sent.index("BEGIN IMMEDIATE") :]  # from the second breach's (the holder commits before it)
    return first, sent


async def answer_held_back(
    db: Database, worker: DeliveryWorker, receiver: Receiver, tenant: str, answer: asyncio.Event
) -> tuple[Received, asyncio.Event, asyncio.Task[None]]:
    """A breach's webhook answered while the recorder cannot write it yet: on SQLite another writer of the process
    holds the writer turn; on PostgreSQL the recorder's writer is busy with an earlier result, whose row a
    transaction holds locked. Returns its request, the event that lets the holder go, and the holder's task."""
    async with db.session() as session:
        await fan_out(session, *breach(tenant, 1))
    (first,) = await receiver.wait_for(1)  # held: not answered yet
    release, holds = asyncio.Event(), asyncio.Event()
    if db.engine.dialect.name == "sqlite":

        async def holder() -> None:
            async with db.session() as session:
                await session.execute(select(1))
                holds.set()
                await release.wait()

        holding = asyncio.create_task(holder())
        await holds.wait()
    else:
        (row,) = await claimed_deliveries(db, f"{tenant}-other", ("earlier",))

        async def locker() -> None:
            async with db.engine.connect() as connection:
                await connection.execute(text("SELECT id FROM deliveries WHERE id = :id FOR UPDATE"), {"id": row["id"]})
                holds.set()
                await release.wait()
                await connection.rollback()

        locking = asyncio.create_task(locker())
        await holds.wait()
        earlier = asyncio.create_task(worker.recorder.record(result(row, "earlier")))
        await wait_until(lambda: _true(worker.recorder.writing() and not worker.recorder._pending))  # taken

        async def both() -> None:
            await locking
            await earlier

        holding = asyncio.create_task(both())
    answer.set()
    await wait_until(lambda: _true(worker.recorder.writing() and bool(worker.recorder._pending)))
    return first, release, holding


async def _true(value: bool) -> bool:
    return value
