"""A worker's timer: one, for the earliest of its retries and of the claims other workers hold, none after it stops."""

from __future__ import annotations

import asyncio
import contextlib
import time
from datetime import datetime, timedelta
from typing import Any

from conftest import wait_until
from receivers import Receiver
from sqlalchemy import event, update
from test_fresh_jobs_in_hand import breach, subscribe

from slm_notifier.config import Settings
from slm_notifier.due_timer import Due
from slm_notifier.models import Delivery
from slm_notifier.queued import write_queued
from slm_notifier.service import fan_out, mark_queued
from slm_notifier.worker import LEASE_END, RETRY, DeliveryWorker
from slm_shared.db import READ_ONLY_OPTION, Database, utcnow
from slm_shared.migrations import upgrade


def retry_timers(worker: DeliveryWorker) -> list[asyncio.TimerHandle]:
    """The worker's retry timers pending in the running loop."""
    scheduled: list[asyncio.TimerHandle] = getattr(asyncio.get_running_loop(), "_scheduled", [])
    return [h for h in scheduled if not h.cancelled() and getattr(h, "_callback", None) == worker._timer._fire]


async def dead_claim(db: Database, tenant: str, url: str, seconds: float) -> datetime:
    """A delivery to `url` written unclaimed (no worker registered), then claimed by a worker that died, its lease
    ending in `seconds`: returns that end."""
    await subscribe(db, tenant, url)
    async with db.session() as session:
        await fan_out(session, *breach(tenant))
    lease_end = utcnow() + timedelta(seconds=seconds)
    async with db.session() as session:
        await session.execute(
            update(Delivery).where(Delivery.tenant == tenant).values(claimed_until=lease_end, claim_token="dead")
        )
    return lease_end


async def stop(running: asyncio.Task[None] | None) -> None:
    """Stop a worker's loop, if it was started."""
    if running is not None:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running


async def test_many_retries_keep_one_timer_for_the_earliest_and_none_after_stop(database_url: str) -> None:
    await upgrade("slm_notifier", database_url)
    db = Database(database_url)
    settings = Settings(database_url=database_url, environment="test", delivery_poll_seconds=60.0)
    worker = DeliveryWorker(db, settings)
    running = asyncio.create_task(worker.run())
    timer, on_due = worker._timer, worker._timer._on_due
    fired: list[tuple[datetime, list[Due]]] = []  # (when the timer called back, what had fallen due)

    def recording(due: list[Due]) -> None:
        fired.append((utcnow(), due))
        on_due(due)

    timer._on_due = recording
    try:
        await asyncio.sleep(0.2)
        now = utcnow()
        first, second, third = (now + timedelta(seconds=seconds) for seconds in (0.3, 0.6, 10))
        for seconds in (3600, 86400, 0.6, 120, 0.3, 7200, *range(10, 200)):
            timer.at(now + timedelta(seconds=seconds), RETRY)
        [handle] = retry_timers(worker)
        assert timer.armed_for == first and handle.when() - asyncio.get_running_loop().time() < 0.5  # the earliest

        async def set_for_the_third() -> bool:
            assert len(retry_timers(worker)) == 1  # one timer throughout
            return timer.armed_for == third

        # fired for the 0.3 s and the 0.6 s ones (in one call if the loop was held past both), set again each time
        await wait_until(set_for_the_third, timeout=15)
        assert [when for _, due in fired for when, _ in due] == [first, second]  # those alone, in order
        assert all(when <= called for called, due in fired for when, _ in due)  # none before it fell due
        [handle] = retry_timers(worker)  # the next after that: 10 s
        assert handle.when() - asyncio.get_running_loop().time() < 10
    finally:
        await stop(running)
        await db.dispose()
    assert retry_timers(worker) == []


async def test_a_claim_a_crashed_worker_held_is_taken_when_its_lease_ends_not_on_a_later_poll(
    database_url: str, tenant: str
) -> None:
    await upgrade("slm_notifier", database_url)
    db = Database(database_url)
    settings = Settings(
        database_url=database_url, environment="test", allow_private_targets=True, delivery_poll_seconds=60.0
    )
    running = None
    try:
        async with Receiver() as receiver:
            lease_end = await dead_claim(db, tenant, receiver.url(), 1.5)
            running = asyncio.create_task(DeliveryWorker(db, settings).run())
            await receiver.wait_for(1, timeout=10)  # far sooner than the 60 s poll
            assert utcnow() >= lease_end  # not before the lease ended
    finally:
        await stop(running)
        await db.dispose()


async def test_a_lease_end_is_looked_at_before_a_claim_round_and_a_renewed_one_waited_for(
    database_url: str, tenant: str
) -> None:
    """The timer fires for a claim's lease end the worker learnt of; its holder, alive, has renewed it since. The
    worker reads, takes no write transaction (on SQLite: the write lock), and sets the timer for the lease's new end."""
    await upgrade("slm_notifier", database_url)
    db, other = Database(database_url), Database(database_url)
    settings = Settings(database_url=database_url, environment="test", delivery_poll_seconds=60.0)
    worker = DeliveryWorker(db, settings)
    running = asyncio.create_task(worker.run())
    writes: list[Any] = []

    def count_writes(connection: Any) -> None:
        if not connection.get_execution_options().get(READ_ONLY_OPTION):
            writes.append(connection)

    try:
        await asyncio.sleep(0.2)  # its first look found nothing
        assert worker._timer.armed_for is None
        await subscribe(other, tenant, "http://127.0.0.1:9/never-sent")
        renewed = utcnow() + timedelta(seconds=60)  # held throughout the test
        async with other.session() as session:  # another replica's engine: the worker is not woken by it
            await fan_out(session, *breach(tenant))
            await write_queued(session)
            await session.execute(update(Delivery).values(claimed_until=renewed, claim_token="alive"))
        event.listen(db.engine.sync_engine, "begin", count_writes)
        worker._timer.at(utcnow(), LEASE_END)  # the lease end it had learnt of, before the renewal

        async def set_for_the_new_end() -> bool:
            return worker._timer.armed_for == renewed

        await wait_until(set_for_the_new_end, timeout=15)
        assert writes == []
    finally:
        await stop(running)
        with contextlib.suppress(Exception):
            event.remove(db.engine.sync_engine, "begin", count_writes)
        await db.dispose()
        await other.dispose()


async def test_a_claim_whose_lease_ends_while_the_worker_is_full_is_taken_when_a_slot_frees(
    database_url: str, tenant: str
) -> None:
    """The worker learnt of a crashed worker's lease end while idle; when it ends every slot is taken, so the timer's
    wake starts no round: the first slot to free starts one, not the next poll (60 s here)."""
    await upgrade("slm_notifier", database_url)
    db = Database(database_url)
    settings = Settings(
        database_url=database_url,
        environment="test",
        allow_private_targets=True,
        delivery_poll_seconds=60.0,
        max_concurrency=1,
    )
    running = None
    answer = asyncio.Event()  # the slow receiver holds the worker's one slot until this is set
    try:
        async with Receiver() as receiver, Receiver(gate=answer) as slow:
            lease_end = await dead_claim(db, tenant, receiver.url(), 60)  # ends, below, only once the slot is taken
            other = tenant + "b"
            await subscribe(db, other, slow.url())
            worker = DeliveryWorker(db, settings)
            fired: list[Due] = []
            on_due = worker._timer._on_due

            def recording(due: list[Due]) -> None:
                fired.extend(due)
                on_due(due)

            worker._timer._on_due = recording
            running = asyncio.create_task(worker.run())

            async def set_for_the_lease_end() -> bool:
                return worker._timer.armed_for == lease_end

            await wait_until(set_for_the_lease_end, timeout=15)  # its first look, idle, found the lease end
            async with db.session() as session:  # a fresh delivery takes the worker's one slot
                await fan_out(session, *breach(other))
            await slow.wait_for(1, timeout=15)
            ends = utcnow() + timedelta(seconds=0.3)  # the dead lease ends while the slot is taken
            async with db.session() as session:
                await session.execute(update(Delivery).where(Delivery.claim_token == "dead").values(claimed_until=ends))
            worker._timer.at(ends, LEASE_END)  # as though it had learnt of that end

            async def fired_for_the_lease_end() -> bool:
                return (ends, LEASE_END) in fired

            await wait_until(fired_for_the_lease_end, timeout=15)  # it fell due while the slot was taken
            assert receiver.requests == []
            answer.set()  # the slot frees
            await receiver.wait_for(1, timeout=15)  # far sooner than the 60 s poll
    finally:
        answer.set()
        await stop(running)
        await db.dispose()


async def test_a_retry_falling_due_during_a_claim_round_is_claimed_when_a_slot_frees(
    database_url: str, tenant: str
) -> None:
    """The retry's timer fires while a claim round is under way; that round, begun before the retry was due, leaves
    it, and ends with one slot free (fewer than a claim group: no round of its own). The first attempt to end then
    starts the round that claims it, not the next poll (60 s here)."""
    await upgrade("slm_notifier", database_url)
    db, other = Database(database_url), Database(database_url)
    settings = Settings(
        database_url=database_url,
        environment="test",
        allow_private_targets=True,
        delivery_poll_seconds=60.0,
        max_concurrency=8,  # claim groups of 2
        max_per_subscription=8,
        # its own claims' lease ends (which its first look may find) and attempts' time-outs fall after the test
        claim_lease_seconds=300,
        attempt_timeout_seconds=300,
    )
    running = None
    answer = asyncio.Event()  # the slow receiver holds its slots until this is set
    loop = asyncio.get_running_loop()
    retry_at: list[datetime] = []  # the retry's due time, set in the round

    def retry_during_the_round(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        """In the round the test starts, as it claims (what was due when it began): a retry of the worker's falls due
        now. The claim is held (blocking the loop) until the retry's timer is due, so it fires at the round's next
        await."""
        if armed and not retry_at and "claim_token" in statement and "next_attempt_at" in statement:
            retry_at.append(utcnow())
            worker._timer.at(retry_at[0], RETRY)  # as though an attempt of its had failed and scheduled it
            [handle] = retry_timers(worker)
            time.sleep(max(0.0, handle.when() - loop.time()) + 0.02)

    armed = False
    try:
        async with Receiver() as receiver, Receiver(gate=answer) as slow:
            held, later = tenant + "s", tenant + "d"
            for _ in range(6):
                await subscribe(db, held, slow.url())
            await subscribe(db, later, slow.url())
            await subscribe(db, tenant, receiver.url())
            worker = DeliveryWorker(db, settings)
            fired: list[Due] = []
            on_due = worker._timer._on_due

            def recording(due: list[Due]) -> None:
                fired.extend(due)
                on_due(due)

            worker._timer._on_due = recording
            running = asyncio.create_task(worker.run())
            async with db.session() as session:  # six fresh deliveries take six of the eight slots
                await fan_out(session, *breach(held))
            await slow.wait_for(6, timeout=15)
            far = utcnow() + timedelta(hours=1)
            async with other.session() as session:  # another replica's engine: neither claimed nor woken for
                await fan_out(session, *breach(later))
                await fan_out(session, *breach(tenant))
                await write_queued(session)
                await session.execute(update(Delivery).where(Delivery.tenant != held).values(next_attempt_at=far))
            event.listen(db.engine.sync_engine, "before_cursor_execute", retry_during_the_round)
            armed = True
            async with db.session() as session:  # the other delivery made due here: a claim round for it
                await session.execute(update(Delivery).where(Delivery.tenant == later).values(next_attempt_at=utcnow()))
                mark_queued(session)
            await slow.wait_for(7, timeout=15)  # that round took it, leaving the retry (not yet due then)

            async def fired_for_the_retry() -> bool:
                return bool(retry_at) and [(when, RETRY) for when in retry_at] == fired

            await wait_until(fired_for_the_retry, timeout=15)
            async with other.session() as session:  # the retry's due time, as its attempt would have written it
                await session.execute(
                    update(Delivery).where(Delivery.tenant == tenant).values(next_attempt_at=retry_at[0])
                )
            assert receiver.requests == []  # one slot free: no round until an attempt ends
            answer.set()  # the seven answer
            await receiver.wait_for(1, timeout=15)  # far sooner than the 60 s poll
    finally:
        answer.set()
        await stop(running)
        with contextlib.suppress(Exception):
            event.remove(db.engine.sync_engine, "before_cursor_execute", retry_during_the_round)
        await db.dispose()
        await other.dispose()
