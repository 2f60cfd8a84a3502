"""A subscription changed by another transaction after a fan-out read it, and committed before that fan-out
commits: its fresh delivery is not sent from the copy read (PostgreSQL, where that can happen), but read back as
before: disabled or deleted, it fails for that reason; a new URL or secret is the one used."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from conftest import wait_until
from receivers import Receiver
from sqlalchemy import Engine, event, select
from standardwebhooks import Webhook
from standardwebhooks.webhooks import WebhookVerificationError
from test_fresh_jobs_in_hand import breach, delivery_statements, running_worker, subscribe

from slm_notifier.models import PENDING, Delivery, Subscription
from slm_notifier.schemas import SubscriptionUpdate
from slm_notifier.service import delete_subscription, fan_out, rotate_secret, update_subscription
from slm_shared.db import Database

Change = Callable[[Any, Subscription], Awaitable[Any]]


async def _fan_out_around(db: Database, tenant: str, change: Change) -> Delivery:
    """Fan out a breach; after it read the subscription and before it commits, `change` it in another transaction
    (committed first). Returns the delivery once its attempt is recorded."""
    async with db.session() as session:
        await fan_out(session, *breach(tenant))
        async with db.session() as other:
            subscription = (await other.scalars(select(Subscription).where(Subscription.tenant == tenant))).one()
            await change(other, subscription)

    async def done() -> bool:
        async with db.session(read_only=True) as session:
            return (await session.scalar(select(Delivery.attempt_count))) == 1

    await wait_until(done)
    async with db.session(read_only=True) as session:
        return (await session.scalars(select(Delivery))).one()


@pytest.mark.parametrize(
    ("change", "error"),
    [
        (lambda s, sub: update_subscription(s, subscription=sub, data=SubscriptionUpdate(enabled=False)), "disabled"),
        (lambda s, sub: delete_subscription(s, subscription=sub), "deleted"),
    ],
    ids=["disabled", "deleted"],
)
async def test_disabled_or_deleted_before_the_commit_is_not_sent(
    postgres_url: str, tenant: str, change: Change, error: str
) -> None:
    async with Receiver() as receiver, running_worker(postgres_url) as db:
        await subscribe(db, tenant, receiver.url())
        delivery = await _fan_out_around(db, tenant, change)
        await asyncio.sleep(0.3)  # a send from the stale copy would have arrived
        assert receiver.requests == []
        assert delivery.status != PENDING and delivery.last_error == f"subscription {error}"


async def test_a_new_url_committed_before_the_commit_is_the_one_used(postgres_url: str, tenant: str) -> None:
    async with Receiver() as old, Receiver() as new, running_worker(postgres_url) as db:
        await subscribe(db, tenant, old.url())

        async def repoint(session: Any, subscription: Subscription) -> None:
            await update_subscription(
                session, subscription=subscription, data=SubscriptionUpdate(target={"url": new.url()})
            )

        delivery = await _fan_out_around(db, tenant, repoint)
        (request,) = await new.wait_for(1)
        assert old.requests == [] and request.headers["webhook-id"] == delivery.id


async def test_a_secret_rotated_with_no_grace_before_the_commit_signs(postgres_url: str, tenant: str) -> None:
    async with Receiver() as receiver, running_worker(postgres_url) as db:
        old_secret = await subscribe(db, tenant, receiver.url())
        rotated: list[str] = []

        async def rotate(session: Any, subscription: Subscription) -> None:
            rotated.append((await rotate_secret(session, subscription=subscription, grace_seconds=0)).secret)

        await _fan_out_around(db, tenant, rotate)
        (request,) = await receiver.wait_for(1)
        Webhook(rotated[0]).verify(request.body, request.headers)
        with pytest.raises(WebhookVerificationError):  # signed with the new secret only
            Webhook(old_secret).verify(request.body, request.headers)


async def test_an_unchanged_subscription_is_still_sent_from_what_was_in_hand(postgres_url: str, tenant: str) -> None:
    """The check costs no read-back: a subscription changed only for another tenant leaves the job in hand."""
    async with Receiver(delay=1.0) as receiver, running_worker(postgres_url) as db:
        await subscribe(db, tenant, receiver.url())
        await subscribe(db, f"{tenant}x", receiver.url())
        with delivery_statements() as statements:
            async with db.session() as session:
                await fan_out(session, *breach(tenant))
                async with db.session() as other:
                    query = select(Subscription).where(Subscription.tenant == f"{tenant}x")
                    theirs = (await other.scalars(query)).one()
                    await update_subscription(other, subscription=theirs, data=SubscriptionUpdate(name="renamed"))
            await receiver.wait_for(1)
            before_the_answer = list(statements)  # the receiver holds its answer for a second
        assert before_the_answer == []  # not read back: sent from what the fan-out had in hand


async def test_the_check_goes_with_the_insert_in_one_statement(postgres_url: str, tenant: str) -> None:
    """The re-read costs no round trip of its own: the deliveries' INSERT returns each row's subscription."""
    sent: list[str] = []

    def _record(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
        if "deliveries" in statement or ("subscriptions.version" in statement and "event_types" not in statement):
            sent.append(statement)

    async with Receiver() as receiver, running_worker(postgres_url) as db:
        await subscribe(db, tenant, receiver.url())
        event.listen(Engine, "before_cursor_execute", _record)
        try:
            async with db.session() as session:
                await fan_out(session, *breach(tenant))
        finally:
            event.remove(Engine, "before_cursor_execute", _record)
        await receiver.wait_for(1)
    (statement,) = sent  # nothing else touched deliveries or read the versions in that transaction
    assert statement.startswith("INSERT INTO deliveries") and "RETURNING" in statement
