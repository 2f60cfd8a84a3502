"""A delivery claimed in the transaction that writes it is sent from what that transaction had in hand, once it
commits: the deliveries are not read back and no claim round runs before the webhook leaves; it is signed with
its subscription's secret under its own id, and a retry (read from the database) carries the same body."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator
from datetime import timedelta, timezone
from typing import Any

import worker_support
from conftest import objective_status, wait_until
from receivers import Receiver
from sqlalchemy import Engine, Select, Update, event, select
from standardwebhooks import Webhook

from slm_notifier.matching import EventFacts
from slm_notifier.models import SUCCEEDED, Delivery, Subscription
from slm_notifier.service import fan_out
from slm_notifier.signing import new_secret
from slm_shared.contracts import EVENTS, CloudEvent
from slm_shared.db import Database, utcnow


def running_worker(database_url: str, **overrides: Any) -> contextlib.AbstractAsyncContextManager[Database]:
    return worker_support.running_worker(
        database_url, **{"claim_lease_seconds": 30.0, "delivery_poll_seconds": 60.0, **overrides}
    )


@contextlib.contextmanager
def delivery_statements() -> Iterator[list[str]]:
    """Reads of the deliveries table and claims (UPDATEs of deliveries), in the order they run, while open."""
    seen: list[str] = []

    def _record(conn: Any, clause: Any, _multiparams: Any, _params: Any, _options: Any) -> None:
        text = str(clause)
        if isinstance(clause, Select) and "FROM deliveries" in text:
            seen.append(f"read: {text}")
        elif isinstance(clause, Update) and text.startswith("UPDATE deliveries"):
            seen.append(f"claim or update: {text}")

    event.listen(Engine, "before_execute", _record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_execute", _record)


async def subscribe(db: Database, tenant: str, url: str) -> str:
    secret = new_secret()
    async with db.session() as session:
        session.add(
            Subscription(
                tenant=tenant, name="ops", event_types=["slm.measurement.*"], target={"url": url}, secret=secret
            )
        )
    return secret


def breach(tenant: str) -> tuple[CloudEvent, EventFacts]:
    event = EVENTS.objective_breached.build(tenant=tenant, data=objective_status(objective_id="obj-1"))
    # a producer's time zone other than UTC: the database returns UTC, so the in-hand job must say the same
    event = event.model_copy(update={"time": event.time.astimezone(timezone(timedelta(hours=2)))})
    facts = EventFacts(event_type=event.type, service_key="payments", agreement_id="agr-1", severity="critical")
    return event, facts


async def test_a_fresh_delivery_is_sent_without_a_read_back_or_a_claim_round(database_url: str, tenant: str) -> None:
    async with Receiver(delay=1.0) as receiver, running_worker(database_url) as db:
        secret = await subscribe(db, tenant, receiver.url())
        with delivery_statements() as statements:
            async with db.session() as session:
                await fan_out(session, *breach(tenant))
            (request,) = await receiver.wait_for(1)
            # the receiver holds its answer for a second: nothing after the send (its record) has run yet
            before_the_answer = list(statements)
        async with db.session(read_only=True) as session:
            (delivery,) = (await session.scalars(select(Delivery))).all()
        assert before_the_answer == []  # neither read back nor claimed by a round: sent from what was in hand
        assert request.headers["webhook-id"] == delivery.id
        assert Webhook(secret).verify(request.body, request.headers)["data"]["event_id"] == delivery.event_id
        await wait_until(lambda: _status_is(db, delivery.id, SUCCEEDED))


async def test_a_retry_read_from_the_database_sends_the_first_attempts_body(database_url: str, tenant: str) -> None:
    async with (
        Receiver((500, {}), default=(204, {})) as receiver,
        running_worker(database_url, retry_base_seconds=0.05, retry_max_seconds=0.1, delivery_poll_seconds=0.1) as db,
    ):
        secret = await subscribe(db, tenant, receiver.url())
        async with db.session() as session:
            await fan_out(session, *breach(tenant))
        first, retry = await receiver.wait_for(2)
        assert first.headers["webhook-id"] == retry.headers["webhook-id"]
        assert first.body == retry.body  # the in-hand job and the row read back say the same
        for request in (first, retry):
            Webhook(secret).verify(request.body, request.headers)


async def _status_is(db: Database, delivery_id: str, status: str) -> bool:
    async with db.session(read_only=True) as session:
        return await session.scalar(select(Delivery.status).where(Delivery.id == delivery_id)) == status  # type: ignore[arg-type]


async def test_two_replicas_send_each_fresh_delivery_once(postgres_url: str, tenant: str) -> None:
    """Each replica fans out events while the other polls fast: the claim recorded with the rows keeps each one
    to the replica that wrote it, so every delivery is sent once, under its own id."""
    async with (
        Receiver() as receiver,
        running_worker(postgres_url, delivery_poll_seconds=0.02, max_concurrency=64, max_per_subscription=64) as one,
        running_worker(postgres_url, delivery_poll_seconds=0.02, max_concurrency=64, max_per_subscription=64) as two,
    ):
        secret = await subscribe(one, tenant, receiver.url())

        async def fan_out_on(db: Database, n: int) -> None:
            event = EVENTS.objective_breached.build(tenant=tenant, data=objective_status(objective_id=f"obj-{n}"))
            facts = EventFacts(event_type=event.type, service_key="payments", agreement_id="agr-1", severity="critical")
            async with db.session() as session:
                await fan_out(session, event, facts)

        await asyncio.gather(*(fan_out_on(one if n % 2 else two, n) for n in range(20)))
        await receiver.wait_for(20)
        await asyncio.sleep(0.5)  # anything sent twice has arrived by now
        async with one.session(read_only=True) as session:
            ids = set((await session.scalars(select(Delivery.id))).all())
        sent = [request.headers["webhook-id"] for request in receiver.requests]
        assert len(ids) == 20 and sorted(sent) == sorted(ids)  # each delivery once
        for request in receiver.requests:
            Webhook(secret).verify(request.body, request.headers)


async def test_a_finished_attempt_claims_again_only_when_deliveries_wait(database_url: str, tenant: str) -> None:
    """With nothing left unclaimed, an answered delivery starts no claim round (the poll looks for retries and
    others' deliveries); rows a subscription's limit left unclaimed are still claimed as attempts finish."""
    async with Receiver() as receiver, running_worker(database_url) as db:
        await subscribe(db, tenant, receiver.url())
        with delivery_statements() as statements:
            async with db.session() as session:
                await fan_out(session, *breach(tenant))
            (request,) = await receiver.wait_for(1)
            await wait_until(lambda: _status_is(db, request.headers["webhook-id"], SUCCEEDED))
            await asyncio.sleep(0.3)
        assert [s for s in statements if "IN (SELECT deliveries.id" in s] == []  # no claim round

    other = f"{tenant}b"  # a tenant of its own: the first subscription's receiver is gone
    async with Receiver(delay=0.2) as receiver, running_worker(database_url, max_per_subscription=1) as db:
        await subscribe(db, other, receiver.url())
        async with db.session() as session:
            for n in range(3):
                event = EVENTS.objective_breached.build(tenant=other, data=objective_status(objective_id=f"o-{n}"))
                facts = EventFacts(event_type=event.type, service_key="payments", severity="critical")
                await fan_out(session, event, facts)
        # one claimed when written, two left to claim rounds as slots free (the 60 s poll takes no part)
        assert len(await receiver.wait_for(3, timeout=10)) == 3


async def test_the_claim_lease_of_a_fresh_delivery_starts_as_it_is_written(database_url: str, tenant: str) -> None:
    """A consumer batch may take a while between its first fan-out and its commit: the lease of the rows it
    claimed starts when they are inserted (at the commit), so it is not shortened by that time."""
    async with Receiver(delay=2.0) as receiver, running_worker(database_url, claim_lease_seconds=30.0) as db:
        await subscribe(db, tenant, receiver.url())
        async with db.session() as session:
            await fan_out(session, *breach(tenant))
            await asyncio.sleep(1.5)  # the rest of the batch
            committing = utcnow()
        await receiver.wait_for(1)  # its answer is held: the claim is still the one written
        async with db.session(read_only=True) as session:
            claimed_until = await session.scalar(select(Delivery.claimed_until))
        assert claimed_until is not None and claimed_until >= committing + timedelta(seconds=30)


async def test_a_retry_due_before_the_next_poll_is_sent_when_due(database_url: str, tenant: str) -> None:
    """With a 60 s poll, a retry due at once (`Retry-After: 0`) or after a short backoff is still sent within
    seconds: a finished attempt whose retry falls before the next poll claims it when it is due."""
    async with (
        Receiver((503, {"Retry-After": "0"}), (500, {}), default=(204, {})) as receiver,
        running_worker(database_url, retry_base_seconds=0.5, retry_max_seconds=1.0) as db,
    ):
        await subscribe(db, tenant, receiver.url())
        async with db.session() as session:
            await fan_out(session, *breach(tenant))
        first, at_once, after_backoff = await receiver.wait_for(3, timeout=10)
        assert first.headers["webhook-id"] == at_once.headers["webhook-id"] == after_backoff.headers["webhook-id"]
        async with db.session(read_only=True) as session:
            (delivery,) = (await session.scalars(select(Delivery))).all()
        await wait_until(lambda: _status_is(db, delivery.id, SUCCEEDED))


async def test_an_answer_being_stored_is_stored_before_a_fresh_delivery_is_sent(postgres_url: str, tenant: str) -> None:
    """A crash re-sends as few answered webhooks as it can: a fresh delivery committed while an answer is being
    written waits for that write (still sent from what was in hand). The write is held by a row lock."""
    async with Receiver(delay=0.3) as receiver, running_worker(postgres_url, max_per_subscription=4) as db:
        await subscribe(db, tenant, receiver.url())
        async with db.session() as session:
            await fan_out(session, *breach(tenant))
        (first,) = await receiver.wait_for(1)
        async with db.session() as holder:  # holds the delivery's row: its answer cannot be written meanwhile
            await holder.execute(
                select(Delivery.id).where(Delivery.id == first.headers["webhook-id"]).with_for_update()
            )
            await asyncio.sleep(1.0)  # answered; its write waits for the lock
            async with db.session() as session:
                await fan_out(session, *breach(tenant))
            await asyncio.sleep(1.0)
            assert len(receiver.requests) == 1  # not sent while the answer before it is unwritten
        await receiver.wait_for(2)
        assert await _status_is(db, first.headers["webhook-id"], SUCCEEDED)  # written before the second left
