"""A breach event from the inbox to its webhook in one transaction: what it costs, counted, and answers read
before it that are not yet stored ride along in its commit instead of holding the webhook back for a
transaction of the recorder's own (a subscription an answer disables is disabled there too, and no fresh
delivery to it is sent); a commit that fails gives them back to the recorder, which writes them, those of
attempts cancelled at shutdown too, and whose `close` waits for such a commit."""

from __future__ import annotations

import asyncio
import contextlib
from typing import cast

import pytest
from conftest import wait_until
from held_answers import (
    a_second_breach_takes_the_answer_along,
    answer_held_back,
    breach,
    kinds,
    statements,
    status_is,
    status_of,
    subscribe,
    worker_on,
)
from receivers import Receiver
from sqlalchemy import event, func, select, text
from sqlalchemy.orm import Session
from test_attempt_recorder import claimed_deliveries, result

from slm_notifier.events import HANDLERS
from slm_notifier.models import FAILED, SUCCEEDED, Delivery, DeliveryAttempt, Subscription
from slm_notifier.recorder import AttemptRecorder
from slm_notifier.service import fan_out
from slm_shared.bus import Bus, Consumer
from slm_shared.db import Database
from slm_shared.migrations import upgrade


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
        assert kinds(before_the_answer) == expected, before_the_answer
        assert request.headers["webhook-id"]


async def test_an_answer_waiting_for_its_write_is_stored_by_the_commit_of_the_next_fresh_delivery(
    sqlite_url: str, tenant: str
) -> None:
    """SQLite: an answer read while another writer holds the turn waits for it; the next breach's transaction
    (urgent: ahead of the recorder) stores it along with its delivery, and its webhook leaves at its commit,
    with no transaction of the recorder's own before it."""
    answer = asyncio.Event()
    async with Receiver(gate=answer) as receiver, worker_on(sqlite_url) as (db, worker):
        at_commit: list[tuple[int, set[str]]] = []  # after the worker's own hook: what it left to its loop, started
        db.after_commit.append(lambda _session: at_commit.append((len(worker._in_hand), set(worker._held))))
        first, sent = await a_second_breach_takes_the_answer_along(db, worker, receiver, tenant, answer, requests=2)
        assert await status_of(db, first.headers["webhook-id"]) == SUCCEEDED
        # one transaction before the second webhook: its delivery and the first answer, written together
        assert sent.count("COMMIT") == 1, sent
        second_id = receiver.requests[1].headers["webhook-id"]
        assert (0, True) in [(left, second_id in held) for left, held in at_commit]  # started by the commit itself
        writes = kinds([s for s in sent if s.startswith(("INSERT", "UPDATE"))])
        assert writes == ["INSERT INTO delivery_attempts", "UPDATE deliveries", "INSERT INTO deliveries"], sent


async def test_answers_taken_along_by_a_commit_that_fails_are_stored_by_the_recorder(
    sqlite_url: str, tenant: str
) -> None:
    """The fresh delivery's transaction took the answer along, then failed before it committed: the answer is
    written by the recorder after all, and the rolled-back delivery is never sent."""
    answer = asyncio.Event()
    async with Receiver(gate=answer) as receiver, worker_on(sqlite_url) as (db, worker):
        await subscribe(db, tenant, receiver.url())
        first, release, holding = await answer_held_back(db, worker, receiver, tenant, answer)

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
        await wait_until(lambda: status_is(db, first.headers["webhook-id"], SUCCEEDED))
        assert not worker.recorder.writing()
        async with db.session(read_only=True) as session:
            statuses = (await session.scalars(select(Delivery.status))).all()
        assert statuses == [SUCCEEDED]  # the second delivery was rolled back
        assert len(receiver.requests) == 1


@pytest.mark.parametrize("queued_first", [False, True], ids=["answer-first", "deliveries-first"])
async def test_an_answer_disabling_its_subscription_rides_along_and_no_fresh_delivery_to_it_is_sent(
    database_url: str, tenant: str, queued_first: bool
) -> None:
    """An answer (410 Gone) that disables the subscription, waiting for its write, is stored by the next breach's
    commit with the subscription disabled in it, by the recorder's same statement. That breach's delivery to the
    subscription is not sent: it fails as "subscription disabled", as one to a disabled subscription does; so
    too when the commit writes its deliveries before the answer (a delivery queued unclaimed before it)."""
    answer = asyncio.Event()
    async with Receiver((410, {}), gate=answer) as receiver, worker_on(database_url) as (db, worker):
        first, sent = await a_second_breach_takes_the_answer_along(
            db, worker, receiver, tenant, answer, requests=1, queued_first=queued_first
        )
        # the first commit is the second breach's (nothing of the recorder's own before it), with the answer in it
        # (the failed attempt of the fresh delivery to the disabled subscription is recorded after it)
        sent = sent[: sent.index("COMMIT") + 1]
        postgresql = db.engine.dialect.name == "postgresql"
        recorded = ["WITH finished AS"] if postgresql else ["INSERT INTO delivery_attempts", "UPDATE deliveries"]
        recorded.append("UPDATE subscriptions")
        written = ["INSERT INTO deliveries"]
        writes = kinds([s for s in sent if s.startswith(("INSERT", "UPDATE", "WITH"))])
        assert writes == ([*written, *recorded] if queued_first else [*recorded, *written]), sent
        first_id = first.headers["webhook-id"]
        async with db.session(read_only=True) as session:
            others = (
                await session.scalars(
                    select(Delivery.id).where(Delivery.tenant == tenant, Delivery.id != first_id)  # type: ignore[arg-type]
                )
            ).all()
        assert len(others) == (2 if queued_first else 1)
        for second_id in others:
            await wait_until(lambda: status_is(db, second_id, FAILED))  # noqa: B023 - awaited at once
        async with db.session(read_only=True) as session:
            enabled, reason = (
                await session.execute(
                    select(Subscription.enabled, Subscription.disabled_reason).where(Subscription.tenant == tenant)  # type: ignore[arg-type]
                )
            ).one()
            answered = (
                (
                    await session.execute(
                        select(DeliveryAttempt.status_code).where(DeliveryAttempt.delivery_id == first_id)  # type: ignore[arg-type]
                    )
                )
                .scalars()
                .all()
            )
            errors = (await session.scalars(select(Delivery.last_error).where(Delivery.id.in_(others)))).all()  # type: ignore[attr-defined]
        assert (enabled, list(answered)) == (False, [410])
        assert reason is not None and "410" in reason
        assert errors == ["subscription disabled"] * len(others)
        assert [request.headers["webhook-id"] for request in receiver.requests] == [first_id]  # none for the second


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
