"""A breach event from the inbox to its webhook in one transaction: what it costs, counted, and answers read
before it that are not yet stored ride along in its commit instead of holding the webhook back for a
transaction of the recorder's own (a subscription an answer disables is disabled there too); a commit that fails
gives them back to the recorder, which writes them, those of attempts cancelled at shutdown too, and whose
`close` waits for such a commit."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any, cast

from conftest import objective_status, wait_until
from receivers import Receiver
from sqlalchemy import event, func, select, text
from sqlalchemy.orm import Session
from test_attempt_recorder import claimed_deliveries, result

from slm_notifier.config import Settings
from slm_notifier.events import HANDLERS
from slm_notifier.matching import EventFacts
from slm_notifier.models import SUCCEEDED, Delivery, DeliveryAttempt, Subscription
from slm_notifier.recorder import AttemptRecorder
from slm_notifier.service import fan_out
from slm_notifier.signing import new_secret
from slm_notifier.worker import DeliveryWorker
from slm_shared.bus import Bus, Consumer
from slm_shared.contracts import EVENTS, CloudEvent
from slm_shared.db import Database
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


async def test_a_breach_event_costs_one_transaction_of_counted_statements_from_inbox_to_webhook(
    database_url: str, tenant: str
) -> None:
    """Applied through the inbox, a breach's webhook leaves after one transaction: the inbox row, the status
    kept, the subscriptions read, the delivery written (and claimed) and the commit. Nothing is read back,
    claimed or written again before the POST."""
    async with Receiver(delay=1.0) as receiver, worker_on(database_url) as (db, _worker):
        await subscribe(db, tenant, receiver.url())
        consumer = Consumer(db, cast(Bus, None), name="notifier-test", handlers=HANDLERS, urgent=True)
        event_, _ = breach(tenant, 1)
        with statements(db) as seen:
            assert await consumer.apply(event_, HANDLERS[event_.type], urgent=True)
            (request,) = await receiver.wait_for(1)
            before_the_answer = list(seen)  # the receiver holds its answer: nothing of its record has run
        kinds = [statement.split(" (")[0].split(" SET")[0] for statement in before_the_answer]
        postgresql = db.engine.dialect.name == "postgresql"
        expected = [
            *([] if postgresql else ["BEGIN IMMEDIATE"]),  # asyncpg begins with the first statement
            "INSERT INTO inbox",
            "INSERT INTO objective_status_seen",
            "SELECT subscriptions.id, subscriptions.event_types, subscriptions.filters, subscriptions.channel, "
            "subscriptions.target, subscriptions.escalation_seconds, subscriptions.language, subscriptions.secret "
            "AS secret_token, subscriptions.previous_secret AS previous_secret_token, "
            "subscriptions.previous_secret_expires_at, subscriptions.version FROM subscriptions WHERE "
            "subscriptions.tenant = "
            + ("$1::VARCHAR" if postgresql else "?")
            + " AND subscriptions.enabled IS "
            + ("true" if postgresql else "1"),
            "INSERT INTO deliveries",  # on PostgreSQL returning the subscriptions as they are now
            "COMMIT",
        ]
        assert kinds == expected, before_the_answer
        assert request.headers["webhook-id"]


async def test_an_answer_waiting_for_its_write_is_stored_by_the_commit_of_the_next_fresh_delivery(
    sqlite_url: str, tenant: str
) -> None:
    """SQLite: an answer read while another writer holds the turn waits for it; the next breach's transaction
    (urgent: ahead of the recorder) stores it along with its delivery, and its webhook leaves at its commit,
    with no transaction of the recorder's own before it."""
    answer = asyncio.Event()
    async with Receiver(gate=answer) as receiver, worker_on(sqlite_url) as (db, worker):
        await subscribe(db, tenant, receiver.url())
        first, release, holding = await _answer_behind_a_writer(db, worker, receiver, tenant, answer)
        at_commit: list[tuple[int, set[str]]] = []  # after the worker's own hook: what it left to its loop, started
        db.after_commit.append(lambda _session: at_commit.append((len(worker._in_hand), set(worker._held))))
        with statements(db) as seen:
            second = asyncio.create_task(_fan_out_urgent(db, *breach(tenant, 2)))
            await asyncio.sleep(0)
            release.set()
            await second
            await receiver.wait_for(2)
            sent = list(seen)
        await holding
        sent = sent[sent.index("BEGIN IMMEDIATE") :]  # from the second breach's (the holder commits before it)
        assert await status_of(db, first.headers["webhook-id"]) == SUCCEEDED
        # one transaction before the second webhook: its delivery and the first answer, written together
        assert sent.count("COMMIT") == 1, sent
        second_id = receiver.requests[1].headers["webhook-id"]
        assert (0, True) in [(left, second_id in held) for left, held in at_commit]  # started by the commit itself
        writes = [s.split(" (")[0].split(" SET")[0] for s in sent if s.startswith(("INSERT", "UPDATE"))]
        assert writes == ["INSERT INTO delivery_attempts", "UPDATE deliveries", "INSERT INTO deliveries"], sent


async def test_answers_taken_along_by_a_commit_that_fails_are_stored_by_the_recorder(
    sqlite_url: str, tenant: str
) -> None:
    """The fresh delivery's transaction took the answer along, then failed before it committed: the answer is
    written by the recorder after all, and the rolled-back delivery is never sent."""
    answer = asyncio.Event()
    async with Receiver(gate=answer) as receiver, worker_on(sqlite_url) as (db, worker):
        await subscribe(db, tenant, receiver.url())
        first, release, holding = await _answer_behind_a_writer(db, worker, receiver, tenant, answer)

        def fail(session: Session) -> None:  # after the answers were taken along (listeners run in order)
            raise RuntimeError("the commit failed")

        async def failing_fan_out() -> None:
            async with db.session(urgent=True) as session:
                await fan_out(session, *breach(tenant, 2))
                event.listen(session.sync_session, "before_commit", fail)

        attempt = asyncio.create_task(failing_fan_out())
        await asyncio.sleep(0)
        release.set()
        try:
            await attempt
        except RuntimeError:
            pass
        else:
            raise AssertionError("the commit should have failed")
        await holding
        await wait_until(lambda: _status_is(db, first.headers["webhook-id"], SUCCEEDED))
        assert not worker.recorder.writing()
        async with db.session(read_only=True) as session:
            statuses = (await session.scalars(select(Delivery.status))).all()
        assert statuses == [SUCCEEDED]  # the second delivery was rolled back
        assert len(receiver.requests) == 1


async def test_an_answer_disabling_its_subscription_rides_along_and_disables_it_in_that_commit(
    sqlite_url: str, tenant: str
) -> None:
    """SQLite: an answer (410 Gone) that disables the subscription, waiting for the writer turn, is stored by the
    next breach's commit with the subscription disabled in it, by the recorder's same statement; that breach's
    webhook to the subscription leaves at its commit, as it did once committed before the recorder disabled it."""
    answer = asyncio.Event()
    async with Receiver((410, {}), gate=answer) as receiver, worker_on(sqlite_url) as (db, worker):
        await subscribe(db, tenant, receiver.url())
        first, release, holding = await _answer_behind_a_writer(db, worker, receiver, tenant, answer)
        assert any(item.disable_subscription for item, _ in worker.recorder._pending)
        with statements(db) as seen:
            second = asyncio.create_task(_fan_out_urgent(db, *breach(tenant, 2)))
            await asyncio.sleep(0)
            release.set()
            await second
            await receiver.wait_for(2)
            sent = list(seen)
        await holding
        sent = sent[sent.index("BEGIN IMMEDIATE") :]  # from the second breach's (the holder commits before it)
        assert sent.count("COMMIT") == 1, sent  # nothing of the recorder's own before the second webhook
        writes = [s.split(" (")[0].split(" SET")[0] for s in sent if s.startswith(("INSERT", "UPDATE"))]
        assert writes == [
            "INSERT INTO delivery_attempts",
            "UPDATE deliveries",
            "UPDATE subscriptions",
            "INSERT INTO deliveries",
        ], sent
        async with db.session(read_only=True) as session:
            enabled, reason = (await session.execute(select(Subscription.enabled, Subscription.disabled_reason))).one()
            attempts = await session.scalar(select(func.count()).select_from(DeliveryAttempt))
        assert (enabled, attempts) == (False, 1)
        assert reason is not None and "410" in reason
        assert receiver.requests[1].headers["webhook-id"] != first.headers["webhook-id"]


async def test_an_answer_of_an_attempt_cancelled_at_shutdown_is_written_when_the_commit_it_rode_in_fails(
    sqlite_url: str, tenant: str
) -> None:
    """Shutdown cancels the attempts, and so their wait for the record, while a fresh delivery's transaction has
    taken their answers along; that transaction rolls back: the recorder writes them all the same (the delivery
    is not sent again after its lease), before `close` returns."""
    await upgrade("slm_notifier", sqlite_url)
    db = Database(sqlite_url)
    try:
        (row,) = await claimed_deliveries(db, tenant, ("mine",))
        recorder = AttemptRecorder(db)
        attempt: asyncio.Task[None] | None = None
        with contextlib.suppress(RuntimeError):
            async with db.session(urgent=True) as session:  # holds the writer turn: the recorder waits
                await session.execute(select(1))
                attempt = asyncio.create_task(recorder.record(result(row, "mine")))
                await asyncio.sleep(0)  # handed over
                attempt.cancel()  # shutdown
                await asyncio.sleep(0)
                assert attempt.cancelled() and recorder._pending
                recorder.ride_along_at_commit(session.sync_session)
                event.listen(session.sync_session, "before_commit", _fail)  # after the answers were taken along
            raise AssertionError("the commit should have failed")
        await recorder.close(within=10.0)
        assert await _attempts_and_claim(db, row["id"]) == (1, None)
    finally:
        await db.dispose()


async def test_close_waits_for_a_commit_with_answers_riding_along_and_writes_what_it_gives_back(
    postgres_url: str, tenant: str
) -> None:
    """PostgreSQL: the recorder's writer found nothing left (a committing transaction took the answer along) and
    ended; `close` is called while that transaction still runs. It waits for it and, as it rolls back, writes the
    answer given back; no writer is left running once it returns (none starts after it)."""
    await upgrade("slm_notifier", postgres_url)
    db = Database(postgres_url)
    lock = 7_412_023
    try:
        (row,) = await claimed_deliveries(db, tenant, ("mine",))
        recorder = AttemptRecorder(db)
        async with db.engine.connect() as other:
            await other.execute(text("SELECT pg_advisory_lock(:k)"), {"k": lock})
            blocked = asyncio.Event()

            def blocked_then_fail(session: Session) -> None:  # after the answer was taken along
                blocked.set()
                session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock})  # waits for `other`
                raise RuntimeError("the commit failed")

            async def riding() -> None:
                async with db.session() as session:
                    await session.execute(select(1))
                    recorder.ride_along_at_commit(session.sync_session)
                    event.listen(session.sync_session, "before_commit", blocked_then_fail)
                    handed = asyncio.create_task(recorder.record(result(row, "mine")))
                    await asyncio.sleep(0)  # handed over; its writer is created, not run yet: the commit goes first
                    handed.cancel()  # shutdown

            rider = asyncio.create_task(riding())
            await blocked.wait()
            assert recorder._writer is not None
            await recorder._writer  # found nothing to write
            closing = asyncio.create_task(recorder.close(within=10.0))
            await asyncio.sleep(0)
            assert not closing.done()  # waits for the transaction with the answer riding along
            await other.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": lock})
            with contextlib.suppress(RuntimeError):
                await rider
                raise AssertionError("the commit should have failed")
            await closing
            assert recorder._writer is None or recorder._writer.done()  # nothing left running past close
        assert await _attempts_and_claim(db, row["id"]) == (1, None)
    finally:
        await db.dispose()


def _fail(_session: Session) -> None:
    raise RuntimeError("the commit failed")


async def _attempts_and_claim(db: Database, delivery_id: str) -> tuple[int, str | None]:
    async with db.session(read_only=True) as session:
        attempts = await session.scalar(
            select(func.count()).select_from(DeliveryAttempt).where(DeliveryAttempt.delivery_id == delivery_id)  # type: ignore[arg-type]
        )
        token = await session.scalar(select(Delivery.claim_token).where(Delivery.id == delivery_id))  # type: ignore[arg-type]
    return attempts or 0, token


async def _answer_behind_a_writer(
    db: Database, worker: DeliveryWorker, receiver: Receiver, tenant: str, answer: asyncio.Event
) -> tuple[Any, asyncio.Event, asyncio.Task[None]]:
    """SQLite: a breach's webhook answered while another writer of the process holds the writer turn, so its
    answer waits to be written; returns its request, the event that lets the writer go, and the writer's task."""
    async with db.session() as session:
        await fan_out(session, *breach(tenant, 1))
    (first,) = await receiver.wait_for(1)  # held: not answered yet
    release, holds = asyncio.Event(), asyncio.Event()

    async def holder() -> None:
        async with db.session() as session:
            await session.execute(select(1))
            holds.set()
            await release.wait()

    holding = asyncio.create_task(holder())
    await holds.wait()
    answer.set()
    await wait_until(lambda: _true(worker.recorder.writing() and bool(worker.recorder._pending)))
    return first, release, holding


async def _fan_out_urgent(db: Database, event_: CloudEvent, facts: EventFacts) -> None:
    async with db.session(urgent=True) as session:
        await fan_out(session, event_, facts)


async def _true(value: bool) -> bool:
    return value


async def _status_is(db: Database, delivery_id: str, status: str) -> bool:
    return await status_of(db, delivery_id) == status
