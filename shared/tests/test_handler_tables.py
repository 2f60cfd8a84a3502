"""Two modules of one service consuming the same event type: both handlers run, atomically."""

from __future__ import annotations

import asyncio
import json
import uuid

from sqlalchemy import Column, Integer, String, Table, func, insert, select
from sqlmodel import SQLModel

from slm_shared.bus import Bus, Consumer, DeadLetter, chain_handlers
from slm_shared.contracts import EVENTS, CloudEvent
from slm_shared.contracts.payloads import ServiceCreatedV1
from slm_shared.db import Database

heard = Table(
    "heard_by_tables",
    SQLModel.metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("event_id", String(64), nullable=False),
    Column("table_name", String(20), nullable=False),
)


def hears(table_name: str):  # type: ignore[no-untyped-def]
    async def handler(session, event: CloudEvent) -> None:  # type: ignore[no-untyped-def]
        await session.execute(insert(heard).values(event_id=event.id, table_name=table_name))

    return handler


async def refuse(session, event: CloudEvent) -> None:  # type: ignore[no-untyped-def]
    raise ValueError("the second table cannot apply this event")


async def heard_by(db: Database, event_id: str) -> list[str]:
    async with db.session(read_only=True) as session:
        rows = await session.execute(
            select(heard.c.table_name).where(heard.c.event_id == event_id).order_by(heard.c.id)
        )
        return [row[0] for row in rows]


async def publish(bus: Bus, key: str) -> str:
    event = EVENTS.service_created.build(
        tenant="acme", data=ServiceCreatedV1(service_id=str(uuid.uuid4()), key=key, name=key.title())
    )
    await bus.js.publish(EVENTS.service_created.subject, json.dumps(event.data).encode(), headers=event.headers())
    return event.id


async def test_every_table_naming_a_type_gets_the_event_in_order() -> None:
    first, second = hears("first"), hears("second")
    other = hears("other")
    table = chain_handlers({EVENTS.service_created.type: first}, {EVENTS.service_created.type: second, "x.y": other})
    assert set(table) == {EVENTS.service_created.type, "x.y"}
    assert table["x.y"] is other  # a type only one table names keeps its own handler


async def test_both_handlers_apply_in_the_events_one_transaction(db: Database, bus: Bus) -> None:
    consumer = Consumer(
        db,
        bus,
        name=f"tables-{uuid.uuid4().hex[:8]}",
        handlers=chain_handlers(
            {EVENTS.service_created.type: hears("names")}, {EVENTS.service_created.type: hears("keys")}
        ),
    )
    task = asyncio.create_task(consumer.run())
    try:
        event_id = await publish(bus, "billing")
        deadline = asyncio.get_running_loop().time() + 40
        while not await heard_by(db, event_id) and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)  # the stream may hold earlier tests' events before this one
        assert await heard_by(db, event_id) == ["names", "keys"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_later_handler_failing_undoes_the_earlier_ones(db: Database, bus: Bus) -> None:
    consumer = Consumer(
        db,
        bus,
        name=f"tables-{uuid.uuid4().hex[:8]}",
        handlers=chain_handlers({EVENTS.service_created.type: hears("names")}, {EVENTS.service_created.type: refuse}),
        max_deliveries=2,
        retry_delay=0.05,
    )
    task = asyncio.create_task(consumer.run())
    try:
        event_id = await publish(bus, "payroll")
        deadline = asyncio.get_running_loop().time() + 40
        dead = 0
        while not dead and asyncio.get_running_loop().time() < deadline:
            await asyncio.sleep(0.1)
            async with db.session(read_only=True) as session:
                dead = (
                    await session.scalar(
                        select(func.count()).select_from(DeadLetter).where(DeadLetter.event_id == event_id)
                    )
                    or 0
                )
        assert dead == 1  # both deliveries failed on the second table's handler
        assert await heard_by(db, event_id) == []  # and the first table's write was rolled back each time
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
