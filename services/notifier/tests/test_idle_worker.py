"""An idle delivery worker polls without write transactions, and still finds what another replica queued."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import worker_support
from conftest import wait_until
from receivers import Receiver
from sqlalchemy import event
from test_fresh_claims import breach, statuses, subscribe

from slm_notifier.models import SUCCEEDED
from slm_notifier.service import fan_out
from slm_shared.db import READ_ONLY_OPTION, Database


def polling_worker(database_url: str) -> contextlib.AbstractAsyncContextManager[Database]:
    return worker_support.running_worker(database_url, delivery_poll_seconds=0.05)


async def test_an_idle_worker_polls_without_writing_and_sends_what_another_replica_queued(
    database_url: str, tenant: str
) -> None:
    async with Receiver() as receiver, polling_worker(database_url) as db:
        await subscribe(db, tenant, receiver.url())
        writes: list[Any] = []

        @event.listens_for(db.engine.sync_engine, "begin")
        def count_writes(connection: Any) -> None:
            if not connection.get_execution_options().get(READ_ONLY_OPTION):
                writes.append(connection)

        await asyncio.sleep(0.6)  # about a dozen polls with nothing due
        assert writes == []  # none of them began a write transaction (on SQLite: took the write lock)

        # another replica queues a delivery: no commit of this process wakes the worker, its poll finds it
        other = Database(database_url)
        try:
            async with other.session() as session:
                created, facts = breach(tenant, 1)
                assert await fan_out(session, created, facts) == 1
        finally:
            await other.dispose()
        (request,) = await receiver.wait_for(1)
        assert request.headers["webhook-id"] in await statuses(db)
        await wait_until(lambda: _all_succeeded(db), timeout=10)
        assert writes  # claimed and recorded in write transactions
        with contextlib.suppress(Exception):
            event.remove(db.engine.sync_engine, "begin", count_writes)


async def _all_succeeded(db: Database) -> bool:
    return set((await statuses(db)).values()) == {SUCCEEDED}
