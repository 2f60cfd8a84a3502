"""Due deliveries claimed by the worker: on PostgreSQL the claim itself returns them with their subscription (no
read-back); on either database each is sent once, signed with its subscription's secret under its own id, and one
whose subscription is gone, or disabled, fails unsent."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from typing import Any

from conftest import objective_status, wait_until
from receivers import Receiver
from sqlalchemy import Engine, delete, event, select
from sqlalchemy.sql import Select
from standardwebhooks import Webhook

from slm_notifier import repository
from slm_notifier.config import Settings
from slm_notifier.models import FAILED, SUCCEEDED, Delivery, Subscription
from slm_notifier.service import delivery_row
from slm_notifier.signing import new_secret
from slm_notifier.worker import DeliveryWorker
from slm_shared.contracts import EVENTS
from slm_shared.db import READ_ONLY_OPTION, Database, utcnow
from slm_shared.migrations import upgrade

DUE = 6


@contextlib.contextmanager
def job_reads() -> Iterator[list[str]]:
    """Read-only statements that read claimed deliveries back with their subscription, while open."""
    reads: list[str] = []

    def _count(conn: Any, clause: Any, _multiparams: Any, _params: Any, _options: Any) -> None:
        if conn.get_execution_options().get(READ_ONLY_OPTION) and isinstance(clause, Select):
            text = str(clause)
            if "FROM deliveries LEFT OUTER JOIN subscriptions" in text:
                reads.append(text)

    event.listen(Engine, "before_execute", _count)
    try:
        yield reads
    finally:
        event.remove(Engine, "before_execute", _count)


async def test_claimed_deliveries_are_sent_once_signed_and_a_gone_or_disabled_subscription_fails(
    database_url: str, tenant: str
) -> None:
    await upgrade("slm_notifier", database_url)
    db = Database(database_url)
    secret = new_secret()
    try:
        async with Receiver() as receiver:
            async with db.session() as session:
                session.add(
                    Subscription(
                        id="sub-live", tenant=tenant, name="ops", event_types=["slm.measurement.*"],
                        target={"url": receiver.url()}, secret=secret,
                    )
                )  # fmt: skip
                session.add(
                    Subscription(
                        id="sub-gone", tenant=tenant, name="old", event_types=["slm.measurement.*"],
                        target={"url": receiver.url()}, secret=new_secret(),
                    )
                )  # fmt: skip
                session.add(
                    Subscription(
                        id="sub-off", tenant=tenant, name="paused", event_types=["slm.measurement.*"],
                        target={"url": receiver.url()}, secret=new_secret(), enabled=False,
                    )
                )  # fmt: skip
            rows = []
            for n in range(DUE + 2):
                item = EVENTS.objective_breached.build(tenant=tenant, data=objective_status(objective_id=f"obj-{n}"))
                subscription = "sub-live" if n < DUE else ("sub-gone" if n == DUE else "sub-off")
                rows.append(delivery_row(item, subscription, utcnow()))
            async with db.session() as session:  # queued with no worker running: claimed by the worker's round
                await repository.insert_deliveries(session, rows)
                # removed behind the pending delivery's back (no fail_pending): the claim must still find it
                await session.execute(delete(Subscription).where(Subscription.id == "sub-gone"))  # type: ignore[arg-type]

            settings = Settings(
                database_url=database_url, environment="test", allow_private_targets=True, delivery_poll_seconds=0.1
            )
            with job_reads() as reads:
                worker = asyncio.create_task(DeliveryWorker(db, settings).run())
                try:

                    async def settled() -> bool:
                        async with db.session(read_only=True) as session:
                            found = dict((await session.execute(select(Delivery.id, Delivery.status))).all())  # type: ignore[call-overload]
                        return found == {row["id"]: SUCCEEDED for row in rows[:DUE]} | {
                            row["id"]: FAILED for row in rows[DUE:]
                        }

                    await wait_until(settled)
                finally:
                    worker.cancel()
                    await asyncio.gather(worker, return_exceptions=True)

            await asyncio.sleep(0.2)
            assert sorted(r.headers["webhook-id"] for r in receiver.requests) == sorted(r["id"] for r in rows[:DUE])
            for request in receiver.requests:  # signed with the live subscription's secret, decrypted by the claim
                assert Webhook(secret).verify(request.body, request.headers)["type"] == EVENTS.objective_breached.type
            async with db.session(read_only=True) as session:
                gone = await session.get(Delivery, rows[DUE]["id"])
                off = await session.get(Delivery, rows[DUE + 1]["id"])
            assert gone is not None and gone.last_error == "subscription deleted"
            # the claim returned the subscription as disabled: failed without a request (none above is for it)
            assert off is not None and off.last_error == "subscription disabled", off
            if db.engine.dialect.name == "postgresql":  # (SQLite reads them back after the claim commits)
                assert reads == []  # the claim returned the rows: nothing read back
    finally:
        await db.dispose()
