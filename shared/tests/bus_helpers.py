"""What the outbox, relay and inbox tests share: a consumer's stand-in effect and small waits."""

from __future__ import annotations

import asyncio
import uuid

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from sqlalchemy import Column, Integer, String, Table, func, insert, select
from sqlmodel import SQLModel

from slm_shared.bus import OutboxMessage
from slm_shared.contracts import CloudEvent
from slm_shared.contracts.payloads import ServiceCreatedV1
from slm_shared.db import Database

# A stand-in for a consumer's own state: the effect an event has.
effects = Table(
    "effects",
    SQLModel.metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False),
    Column("value", String(200), nullable=False),
)


def service_event(key: str) -> ServiceCreatedV1:
    return ServiceCreatedV1(service_id=str(uuid.uuid4()), key=key, name=key.title())


async def count_effects(db: Database, event_id: str) -> int:
    async with db.session(read_only=True) as session:  # a reader never waits for the consumer
        return (
            await session.scalar(select(func.count()).select_from(effects).where(effects.c.event_id == event_id)) or 0
        )


async def wait_until(predicate, timeout: float = 15.0) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if await predicate():
            return
        await asyncio.sleep(0.05)
    raise AssertionError("condition not met in time")


async def apply_effect(session, event: CloudEvent) -> None:  # type: ignore[no-untyped-def]
    await session.execute(insert(effects).values(event_id=event.id, value=event.data["key"]))


def unique_consumer() -> str:
    return f"test-{uuid.uuid4().hex[:8]}"


async def outbox_sent(db: Database, event_id: str) -> bool:
    async with db.session(read_only=True) as session:
        return await session.scalar(select(OutboxMessage.sent_at).where(OutboxMessage.event_id == event_id)) is not None


async def listening(url: str) -> tuple[Client, list[str]]:
    """A NATS connection subscribed to the catalogue's events, and the `ce-id` of each it receives, in order."""
    listener = await nats.connect(url)
    seen: list[str] = []

    async def collect(message: Msg) -> None:
        seen.append((message.headers or {}).get("ce-id", ""))

    await listener.subscribe("slm.catalog.>", cb=collect)
    await listener.flush()
    return listener, seen


async def seen_in(seen: list[str], event_id: str) -> bool:
    return event_id in seen
