"""A worker's timer: one, for the earliest of its retries and of the claims other workers hold, none after it stops."""

from __future__ import annotations

import asyncio
import contextlib
from datetime import timedelta

from receivers import Receiver
from sqlalchemy import update
from test_fresh_jobs_in_hand import breach, subscribe

from slm_notifier.config import Settings
from slm_notifier.models import Delivery
from slm_notifier.service import fan_out
from slm_notifier.worker import DeliveryWorker
from slm_shared.db import Database, utcnow
from slm_shared.migrations import upgrade


def retry_timers(worker: DeliveryWorker) -> list[asyncio.TimerHandle]:
    """The worker's retry timers pending in the running loop."""
    scheduled: list[asyncio.TimerHandle] = getattr(asyncio.get_running_loop(), "_scheduled", [])
    return [h for h in scheduled if not h.cancelled() and getattr(h, "_callback", None) == worker._timer._fire]


async def test_many_retries_keep_one_timer_for_the_earliest_and_none_after_stop(database_url: str) -> None:
    await upgrade("slm_notifier", database_url)
    db = Database(database_url)
    settings = Settings(database_url=database_url, environment="test", delivery_poll_seconds=60.0)
    worker = DeliveryWorker(db, settings)
    running = asyncio.create_task(worker.run())
    try:
        await asyncio.sleep(0.2)
        now = utcnow()
        for seconds in (3600, 86400, 0.6, 120, 0.3, 7200, *range(10, 200)):
            worker._timer.at(now + timedelta(seconds=seconds))
        [timer] = retry_timers(worker)
        assert timer.when() - asyncio.get_running_loop().time() < 0.5  # the earliest (0.3 s)
        await asyncio.sleep(0.5)
        [timer] = retry_timers(worker)  # fired, and set again for the next (0.6 s)
        assert timer.when() - asyncio.get_running_loop().time() < 0.3
        await asyncio.sleep(0.4)
        [timer] = retry_timers(worker)  # the next after that: 10 s
        assert 5 < timer.when() - asyncio.get_running_loop().time() < 10
    finally:
        running.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await running
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
            await subscribe(db, tenant, receiver.url())
            async with db.session() as session:
                await fan_out(session, *breach(tenant))  # no worker registered: written unclaimed
            lease_end = utcnow() + timedelta(seconds=1.5)
            async with db.session() as session:  # claimed by a worker that then died
                await session.execute(update(Delivery).values(claimed_until=lease_end, claim_token="dead"))
            running = asyncio.create_task(DeliveryWorker(db, settings).run())
            await receiver.wait_for(1, timeout=10)  # far sooner than the 60 s poll
            assert utcnow() >= lease_end  # not before the lease ended
    finally:
        if running is not None:
            running.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await running
        await db.dispose()
