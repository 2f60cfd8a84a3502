"""Deliveries claimed in the transaction that writes them: sent once it commits, never if it rolls back,
and never more at once to a subscription than its limit."""

from __future__ import annotations

import asyncio
import contextlib

import worker_support
from conftest import objective_status, wait_until
from receivers import Receiver
from sqlalchemy import select

from slm_notifier.matching import EventFacts
from slm_notifier.models import PENDING, SUCCEEDED, Delivery, Subscription
from slm_notifier.queued import write_queued
from slm_notifier.service import fan_out
from slm_notifier.signing import new_secret
from slm_shared.contracts import EVENTS, CloudEvent
from slm_shared.db import Database

LEASE_SECONDS = 30.0  # far longer than the test: a row sent here was claimed when written, not after a lease


def breach(tenant: str, n: int) -> tuple[CloudEvent, EventFacts]:
    event = EVENTS.objective_breached.build(
        tenant=tenant, data=objective_status(agreement_id=f"agr-{n}", objective_id=f"obj-{n}")
    )
    facts = EventFacts(event_type=event.type, service_key="payments", agreement_id=f"agr-{n}", severity="critical")
    return event, facts


def running_worker(database_url: str, **overrides: object) -> contextlib.AbstractAsyncContextManager[Database]:
    # no polling round picks anything up during the test
    values = {"claim_lease_seconds": LEASE_SECONDS, "delivery_poll_seconds": 60.0, **overrides}
    return worker_support.running_worker(database_url, **values)


async def subscribe(db: Database, tenant: str, url: str) -> None:
    async with db.session() as session:
        session.add(
            Subscription(
                tenant=tenant, name="ops", event_types=["slm.measurement.*"], target={"url": url}, secret=new_secret()
            )
        )


async def statuses(db: Database) -> dict[str, str]:
    async with db.session(read_only=True) as session:
        return {row.id: row.status for row in (await session.execute(select(Delivery.id, Delivery.status))).all()}


async def test_committed_fan_out_is_sent_without_a_claim_round_and_a_rolled_back_one_never(
    database_url: str, tenant: str
) -> None:
    async with Receiver() as receiver, running_worker(database_url) as db:
        await subscribe(db, tenant, receiver.url())
        async with db.session() as session:
            kept, facts = breach(tenant, 1)
            await fan_out(session, kept, facts)
            await write_queued(session)  # written now rather than at the commit, to be read here
            claim = await session.scalar(select(Delivery.claim_token).where(Delivery.event_id == kept.id))
            assert claim is not None  # claimed by the transaction that writes it
            dropped, facts = breach(tenant, 2)
            with contextlib.suppress(RuntimeError):
                async with session.begin_nested():  # as the inbox's savepoint around a failing handler
                    await fan_out(session, dropped, facts)
                    raise RuntimeError("the handler failed after fanning out")

        (request,) = await receiver.wait_for(1)
        async with db.session(read_only=True) as session:
            (delivery,) = (await session.scalars(select(Delivery))).all()
        assert request.headers["webhook-id"] == delivery.id and delivery.event_id == kept.id
        await wait_until(lambda: _status_is(db, delivery.id, SUCCEEDED))
        await asyncio.sleep(0.5)
        assert len(receiver.requests) == 1  # the rolled-back delivery was neither stored nor sent


async def test_fresh_claims_keep_the_per_subscription_limit(database_url: str, tenant: str) -> None:
    async with (
        Receiver(delay=1.0) as receiver,
        running_worker(database_url, max_per_subscription=2) as db,
    ):
        await subscribe(db, tenant, receiver.url())
        async with db.session() as session:
            for n in range(5):
                event, facts = breach(tenant, n)
                await fan_out(session, event, facts)
        async with db.session() as session:
            for n in range(5, 8):
                event, facts = breach(tenant, n)
                await fan_out(session, event, facts)

        await receiver.wait_for(2)
        await asyncio.sleep(0.5)
        assert len(receiver.requests) == 2  # two in flight; the others wait unclaimed, not claimed and idle
        async with db.session(read_only=True) as session:
            claimed = (
                await session.scalars(select(Delivery.id).where(Delivery.claim_token.is_not(None)))  # type: ignore[union-attr]
            ).all()
        assert len(claimed) == 2
        assert list((await statuses(db)).values()).count(PENDING) == 8


async def _status_is(db: Database, delivery_id: str, status: str) -> bool:
    return (await statuses(db)).get(delivery_id) == status
