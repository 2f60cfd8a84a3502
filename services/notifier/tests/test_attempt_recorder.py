"""Attempt results written as a group: every attempt is recorded, a delivery's state only where the worker still
holds its claim; on PostgreSQL both in one statement."""

from __future__ import annotations

import asyncio
from typing import Any

from conftest import objective_status
from sqlalchemy import event, func, select

from slm_notifier import repository
from slm_notifier.models import PENDING, SUCCEEDED, Delivery, DeliveryAttempt, Subscription
from slm_notifier.recorder import AttemptRecord, AttemptRecorder
from slm_notifier.service import delivery_row
from slm_notifier.signing import new_secret
from slm_shared.contracts import EVENTS
from slm_shared.db import Database, utcnow
from slm_shared.migrations import upgrade


def result(row: dict[str, Any], token: str) -> AttemptRecord:
    now = utcnow()
    return AttemptRecord(
        attempt={
            "delivery_id": row["id"], "tenant": row["tenant"], "number": 1, "attempted_at": now, "succeeded": True,
            "status_code": 204, "error": None, "duration_ms": 3, "next_attempt_at": None,
        },
        delivery_id=row["id"],
        claim_token=token,
        state={
            "status": SUCCEEDED, "attempt_count": 1, "round_attempts": 1, "next_attempt_at": None,
            "last_status_code": 204, "last_error": None, "updated_at": now, "completed_at": now,
        },
    )  # fmt: skip


async def claimed_deliveries(db: Database, tenant: str, tokens: tuple[str, ...]) -> list[dict[str, Any]]:
    """A subscription's deliveries, one claimed by each of `tokens`, stored; their rows."""
    rows = []
    for n, token in enumerate(tokens):
        item = EVENTS.objective_breached.build(tenant=tenant, data=objective_status(objective_id=f"obj-{n}"))
        rows.append({**delivery_row(item, "sub-1", utcnow()), "claim_token": token, "claimed_until": utcnow()})
    async with db.session() as session:
        session.add(
            Subscription(
                id="sub-1", tenant=tenant, name="ops", event_types=["slm.measurement.*"],
                target={"url": "http://127.0.0.1:9/"}, secret=new_secret(),
            )
        )  # fmt: skip
        await session.flush()
        await repository.insert_deliveries(session, rows)
    return rows


async def test_a_group_of_results_records_every_attempt_and_only_held_claims(database_url: str, tenant: str) -> None:
    await upgrade("slm_notifier", database_url)
    db = Database(database_url)
    try:
        rows = await claimed_deliveries(db, tenant, ("mine", "mine", "another worker's"))

        statements: list[str] = []

        @event.listens_for(db.engine.sync_engine, "before_execute")
        def _count(_conn: Any, clause: Any, _multiparams: Any, _params: Any, _options: Any) -> None:
            statements.append(str(clause))

        recorder = AttemptRecorder(db)
        # the third delivery's claim was taken over (its lease ran out): its attempt is recorded, its state kept
        await asyncio.gather(*(recorder.record(result(row, "mine")) for row in rows))
        event.remove(db.engine.sync_engine, "before_execute", _count)

        async with db.session(read_only=True) as session:
            attempts = await session.scalar(
                select(func.count()).select_from(DeliveryAttempt).where(DeliveryAttempt.tenant == tenant)
            )
            found = {d.id: d for d in (await session.scalars(select(Delivery))).all()}
        assert attempts == 3
        for row in rows[:2]:
            assert (found[row["id"]].status, found[row["id"]].claim_token) == (SUCCEEDED, None)
            assert found[row["id"]].last_status_code == 204
        other = found[rows[2]["id"]]
        assert (other.status, other.claim_token, other.attempt_count) == (PENDING, "another worker's", 0)
        writes = [s for s in statements if "delivery_attempts" in s or "UPDATE deliveries" in s]
        # one group: PostgreSQL writes attempts and states in one statement, SQLite in two
        assert len(writes) == (1 if db.engine.dialect.name == "postgresql" else 2), writes
    finally:
        await db.dispose()


async def test_waiting_for_the_answers_in_hand_does_not_wait_for_answers_handed_over_later(
    sqlite_url: str, tenant: str
) -> None:
    """A fresh delivery waits for the answers received before it, not for a writer kept busy by later ones."""
    await upgrade("slm_notifier", sqlite_url)
    db = Database(sqlite_url)
    try:
        rows = await claimed_deliveries(db, tenant, ("mine", "mine"))

        turns = [asyncio.Event(), asyncio.Event()]

        async def holder(release: asyncio.Event) -> None:  # another writer of the process, holding SQLite's turn
            async with db.session() as session:
                await session.execute(select(1))
                await release.wait()

        recorder = AttemptRecorder(db)
        first_holder = asyncio.create_task(holder(turns[0]))
        await asyncio.sleep(0.1)
        first = asyncio.create_task(recorder.record(result(rows[0], "mine")))  # waits for the turn
        await asyncio.sleep(0.1)
        second_holder = asyncio.create_task(holder(turns[1]))  # next in line after the first answer's write
        await asyncio.sleep(0.1)
        flushed = asyncio.create_task(recorder.flushed())  # a fresh delivery waiting for the answers in hand
        await asyncio.sleep(0.1)
        assert not flushed.done()  # the answer in hand is not written yet
        later_ones: list[asyncio.Task[None]] = []

        @event.listens_for(db.engine.sync_engine, "before_execute")
        def _answer_after(_conn: Any, clause: Any, _multiparams: Any, _params: Any, _options: Any) -> None:
            # an answer handed over once the first write has taken its group (it holds the turn and writes)
            if "delivery_attempts" in str(clause) and not later_ones:
                later_ones.append(asyncio.create_task(recorder.record(result(rows[1], "mine"))))

        turns[0].set()
        await asyncio.wait_for(first, timeout=10)
        event.remove(db.engine.sync_engine, "before_execute", _answer_after)
        (later,) = later_ones
        # the later answer's write waits behind the second holder; the answers in hand are written
        await asyncio.wait_for(flushed, timeout=5)
        assert not later.done()
        turns[1].set()
        await asyncio.wait_for(asyncio.gather(later, first_holder, second_holder), timeout=10)
        async with db.session(read_only=True) as session:
            states = {d.id: d.status for d in (await session.scalars(select(Delivery))).all()}
        assert states == {rows[0]["id"]: SUCCEEDED, rows[1]["id"]: SUCCEEDED}
    finally:
        await db.dispose()


async def test_results_count_as_written_as_their_commit_returns(database_url: str, tenant: str) -> None:
    """A fresh delivery committed just after a group of results finds them written (no wait for the recorder's
    connection to be given back): they are marked as the commit returns, before the database's commit hooks."""
    await upgrade("slm_notifier", database_url)
    db = Database(database_url)
    try:
        rows = await claimed_deliveries(db, tenant, ("mine",))
        recorder = AttemptRecorder(db)
        at_commit: list[bool] = []
        db.after_commit.append(lambda _session: at_commit.append(recorder.writing()))
        await recorder.record(result(rows[0], "mine"))  # returns as the commit does
        await recorder.close(within=5.0)  # the writer has run the commit hooks
        assert at_commit == [False]  # the recorder's own commit: its results already counted as written
    finally:
        await db.dispose()
