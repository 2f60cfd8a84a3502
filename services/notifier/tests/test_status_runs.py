"""A batch of status changes is told as an upsert per event would tell it: the newest per objective, each once,
with its agreement's parties; on SQLite in a few statements for the batch rather than one per event."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from conftest import agreement_activated, burn_alert, objective_status, wait_until
from nats.aio.msg import Msg
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy
from sqlalchemy import event, func, select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from slm_notifier import repository
from slm_notifier.events import HANDLERS, on_objective_status
from slm_notifier.models import AgreementView, Delivery, ObjectiveStatusSeen, Subscription
from slm_notifier.signing import new_secret
from slm_shared.bus import Bus, Consumer, DeadLetter, InboxMessage
from slm_shared.contracts import EVENTS, CloudEvent
from slm_shared.contracts.registry import spec_for_type
from slm_shared.db import Database
from slm_shared.testing.databases import migrated_database
from slm_shared.testing.nats_server import NatsServer

T1 = datetime(2026, 11, 30, 10, 0, tzinfo=UTC)
T2, T3 = T1 + timedelta(minutes=1), T1 + timedelta(minutes=2)


def status(tenant: str, kind: str, agreement_id: str, objective_id: str, observed_at: datetime) -> CloudEvent:
    """A status change that names no consumer party: a filter on one matches through the agreement known."""
    spec = {"breached": EVENTS.objective_breached, "at_risk": EVENTS.objective_at_risk}.get(kind)
    spec = spec or EVENTS.objective_recovered
    data = objective_status(
        agreement_id=agreement_id, objective_id=objective_id, status=kind, observed_at=observed_at,
        consumer_party_id=None,
    )  # fmt: skip
    return spec.build(tenant=tenant, data=data)


async def test_a_batch_tells_the_newest_status_of_each_objective_once(
    database_url: str, nats_server: NatsServer, tenant: str
) -> None:
    async with migrated_database("slm_notifier", database_url) as db:
        async with db.session() as session:
            session.add(
                Subscription(
                    tenant=tenant, name="acme", event_types=["slm.measurement.*"], target={"url": "http://127.0.0.1:9/"},
                    filters={"consumer_party_id": "party-acme"}, secret=new_secret(),
                )
            )  # fmt: skip
            activated = agreement_activated("agr-known")
            session.add(
                AgreementView(
                    tenant=tenant, agreement_id="agr-known", version=1, kind="SLA", name=activated.name,
                    service_key="payments", consumer_party_id="party-acme", provider_party_id="party-ops",
                )
            )  # fmt: skip
        batch = [
            told := status(tenant, "breached", "agr-known", "obj-1", T2),
            status(tenant, "at_risk", "agr-known", "obj-1", T1),  # observed before the breach: history
            status(tenant, "breached", "agr-unknown", "obj-9", T2),  # no party known: not for this subscription
            alert := EVENTS.objective_burn_alert.build(tenant=tenant, data=burn_alert(agreement_id="agr-known")),
            recovered := status(tenant, "recovered", "agr-known", "obj-1", T3),
            status(tenant, "breached", "agr-known", "obj-1", T3),  # observed no later than the recovery
            status(tenant, "at_risk", "agr-unknown", "obj-9", T1),
        ]
        bus = Bus(nats_server.url, name="test-status-runs")
        await bus.connect(attempts=5)
        await bus.ensure_platform_streams()
        consumer = Consumer(db, bus, name=f"test-{uuid.uuid4().hex[:8]}", handlers=HANDLERS)
        stream = "SLM_MEASUREMENT"
        subjects = consumer.subscriptions()[stream]
        await consumer._ensure_consumer(stream, subjects)
        for item in batch:
            headers = {**item.headers(), "Nats-Msg-Id": item.id}
            spec = spec_for_type(item.type)
            assert spec is not None
            await bus.js.publish(spec.subject, json.dumps(item.data).encode(), headers=headers)
        upserts: list[str] = []  # the writes to objective_status_seen that carry this test's statuses

        @event.listens_for(db.engine.sync_engine, "before_cursor_execute")
        def _count(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, many: bool) -> None:
            rows = parameters if many else [parameters]
            if statement.lstrip().startswith("INSERT INTO objective_status_seen") and any(
                tenant in (row.values() if isinstance(row, dict) else row) for row in rows
            ):
                upserts.append(statement)

        task = asyncio.create_task(consumer.consume(stream, subjects))

        async def all_applied() -> bool:
            async with db.session() as session:
                ours = select(func.count()).where(col(InboxMessage.event_id).in_([item.id for item in batch]))
                return (await session.scalar(ours)) == len(batch)

        try:
            await wait_until(all_applied)
        finally:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
            await bus.close()
        async with db.session() as session:
            delivered = set(await session.scalars(select(Delivery.event_id).where(col(Delivery.tenant) == tenant)))
            seen = ObjectiveStatusSeen.__table__.c  # type: ignore[attr-defined]
            rows = await session.execute(
                select(seen.objective_id, seen.status, seen.observed_at).where(seen.tenant == tenant)
            )
            latest = {row.objective_id: (row.status, row.observed_at) for row in rows}
    assert delivered == {told.id, alert.id, recovered.id}
    assert latest == {"obj-1": ("recovered", T3), "obj-9": ("breached", T2)}
    # an upsert each: 6. Read ahead: the first event fetched comes on its own (`Fetcher`: with the stream's earlier
    # events, other tests', it may be one of these), a batch may end within these 7; per batch one write at the
    # commit, and on PostgreSQL one upsert of the objectives' first statuses per run
    assert len(upserts) <= 4, upserts


STREAM = "SLM_MEASUREMENT"
T0 = T1 - timedelta(minutes=1)
STATUS_HANDLERS = (EVENTS.objective_at_risk.type, EVENTS.objective_breached.type, EVENTS.objective_recovered.type)


def storm(tenant: str, count: int, *, burn_alerts: bool) -> list[CloudEvent]:
    """Breaches of `count` objectives, each followed by its burn alert when `burn_alerts` (as measurement emits
    them: the status change, then the alerts of its burn-rate tiers)."""
    events: list[CloudEvent] = []
    for n in range(count):
        events.append(status(tenant, "breached", f"agr-{n}", f"obj-{n}", T1))
        if burn_alerts:
            alert = burn_alert(agreement_id=f"agr-{n}", objective_id=f"obj-{n}")
            events.append(EVENTS.objective_burn_alert.build(tenant=tenant, data=alert))
    return events


class Parts:
    """A notifier database with a subscription of the tenant to every measurement event, and a consumer whose
    batches the test fetches itself (exactly the events it publishes, from now on) and hands to `handle_batch`."""

    def __init__(self, db: Database, bus: Bus, consumer: Consumer) -> None:
        self.db, self.bus, self.consumer = db, bus, consumer
        self.subscription: Any = None

    async def fetched(self, events: list[CloudEvent], *, data: dict[str, dict[str, Any]] | None = None) -> list[Msg]:
        """Publish `events` (with `data` instead of an event's own where given) and fetch them back as one batch."""
        for item in events:
            spec = spec_for_type(item.type)
            assert spec is not None
            body = json.dumps((data or {}).get(item.id, item.data)).encode()
            await self.bus.js.publish(spec.subject, body, headers={**item.headers(), "Nats-Msg-Id": item.id})
        messages: list[Msg] = []
        while len(messages) < len(events):
            messages += await self.subscription.fetch(len(events) - len(messages), timeout=5)
        return messages

    async def settled(self) -> bool:
        """Every message fetched was acknowledged."""
        info = await self.bus.js.consumer_info(STREAM, self.consumer.name)
        return (info.num_ack_pending == 0 and info.num_redelivered == 0) or info.num_ack_pending == 0

    async def told(self) -> dict[str, int]:
        """How many deliveries each event has."""
        async with self.db.session(read_only=True) as session:
            rows = await session.execute(select(Delivery.event_id, func.count()).group_by(col(Delivery.event_id)))
            return dict(rows.tuples().all())

    async def latest(self, tenant: str) -> dict[str, tuple[str, datetime]]:
        async with self.db.session(read_only=True) as session:
            seen = ObjectiveStatusSeen.__table__.c  # type: ignore[attr-defined]
            rows = await session.execute(
                select(seen.objective_id, seen.status, seen.observed_at).where(seen.tenant == tenant)
            )
            return {row.objective_id: (row.status, row.observed_at) for row in rows}


@contextlib.asynccontextmanager
async def parts(
    database_url: str, nats_server: NatsServer, tenant: str, handlers: dict[str, Any] | None = None
) -> AsyncIterator[Parts]:
    async with migrated_database("slm_notifier", database_url) as db:
        async with db.session() as session:
            session.add(
                Subscription(
                    tenant=tenant, name="all", event_types=["slm.measurement.*"], target={"url": "http://127.0.0.1:9/"},
                    secret=new_secret(),
                )
            )  # fmt: skip
        bus = Bus(nats_server.url, name="test-status-runs")
        await bus.connect(attempts=5)
        await bus.ensure_platform_streams()
        name = f"test-{uuid.uuid4().hex[:8]}"
        consumer = Consumer(db, bus, name=name, handlers=handlers or HANDLERS, max_deliveries=2, retry_delay=0.05)
        config = ConsumerConfig(
            durable_name=name, ack_policy=AckPolicy.EXPLICIT, deliver_policy=DeliverPolicy.NEW,
            filter_subjects=consumer.subscriptions()[STREAM],
        )  # fmt: skip
        await bus.js.add_consumer(STREAM, config)
        found = Parts(db, bus, consumer)
        found.subscription = await bus.js.pull_subscribe_bind(name, stream=STREAM)
        try:
            yield found
        finally:
            await bus.close()


@contextlib.contextmanager
def statements_on_statuses(db: Database) -> Any:
    """The statements that read or write the statuses seen or the agreements known, meanwhile."""
    found: list[str] = []

    def count(_conn: Any, _cursor: Any, statement: str, _parameters: Any, _context: Any, _many: bool) -> None:
        if "objective_status_seen" in statement or "agreements_view" in statement:
            found.append(statement)

    event.listen(db.engine.sync_engine, "before_cursor_execute", count)
    try:
        yield found
    finally:
        event.remove(db.engine.sync_engine, "before_cursor_execute", count)


@pytest.mark.parametrize("burn_alerts", [False, True], ids=["breaches", "breaches-and-burn-alerts"])
async def test_a_breach_storm_costs_a_few_statements_whether_or_not_burn_alerts_come_between(
    database_url: str, nats_server: NatsServer, tenant: str, burn_alerts: bool
) -> None:
    async with parts(database_url, nats_server, tenant) as found:
        events = storm(tenant, 10, burn_alerts=burn_alerts)
        messages = await found.fetched(events)
        with statements_on_statuses(found.db) as statements:
            await found.consumer.handle_batch(messages, STREAM)
        assert await found.told() == {item.id: 1 for item in events}
        assert await found.latest(tenant) == {f"obj-{n}": ("breached", T1) for n in range(10)}
    # an upsert each: 10. SQLite: the latest observations, the agreements, the write at the commit; PostgreSQL:
    # the firsts' upsert and the agreements (no objective comes twice). A burn alert reads its agreement either way.
    assert len(statements) <= 3 + 10 * burn_alerts, statements


async def test_read_ahead_searches_the_unique_indexes_and_reads_no_other_tenants_rows(
    sqlite_url: str, tenant: str
) -> None:
    other = f"o{tenant}"
    async with migrated_database("slm_notifier", sqlite_url) as db:
        async with db.session() as session:
            row = {"agreement_id": "agr-1", "status": "breached"}
            rows = [
                {**row, "tenant": other, "objective_id": "obj-1", "observed_at": T3},  # another tenant's, later
                {**row, "tenant": tenant, "objective_id": "obj-2", "observed_at": T1},
            ]
            await session.execute(repository.STORE_STATUS, rows)
            session.add(
                AgreementView(
                    tenant=other, agreement_id="agr-1", version=1, kind="SLA", name="theirs", service_key="payments",
                    consumer_party_id="party-other",
                )
            )  # fmt: skip
        captured: list[tuple[str, Any]] = []

        def capture(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
            captured.append((statement, parameters))

        event.listen(db.engine.sync_engine, "before_cursor_execute", capture)
        async with db.session() as session:
            objectives = {(tenant, "agr-1", "obj-1"), (tenant, "agr-1", "obj-2")}
            latest = await repository.latest_observations(session, objectives)
            known = await repository.agreements_known(session, {(tenant, "agr-1")})
        event.remove(db.engine.sync_engine, "before_cursor_execute", capture)
        reads = [(statement, parameters) for statement, parameters in captured if statement.startswith("SELECT")]
        assert len(reads) == 2, captured
        async with db.engine.connect() as connection:
            for statement, parameters in reads:
                plan = " ".join(
                    str(row[-1])
                    for row in await connection.exec_driver_sql(f"EXPLAIN QUERY PLAN {statement}", parameters)
                )
                assert "SEARCH" in plan and "INDEX" in plan and "SCAN" not in plan, plan
                assert other not in str((await connection.exec_driver_sql(statement, parameters)).all())
    assert latest == {(tenant, "agr-1", "obj-2"): T1}
    assert known == []


async def test_replicas_reading_ahead_at_once_tell_each_status_once(
    postgres_url: str, nats_server: NatsServer, tenant: str
) -> None:
    """PostgreSQL: a replica's run waits on the rows another's run locked, then decides against what it committed
    (a status the first decided in memory and wrote only at its commit)."""
    read_ahead, release = asyncio.Event(), asyncio.Event()
    first = [status(tenant, "at_risk", "agr-1", f"obj-{n}", T1) for n in range(1, 5)]
    first.append(status(tenant, "breached", "agr-1", "obj-1", T3))  # decided in memory, written at the commit
    second = [status(tenant, "recovered", "agr-1", "obj-1", T2)]  # later than T1, not than T3: not told
    second += [status(tenant, "at_risk", "agr-1", f"obj-{n}", T1) for n in range(5, 9)]

    async def holding(session: AsyncSession, item: CloudEvent) -> None:
        await on_objective_status(session, item)
        if item.id == first[-1].id:  # the first replica's batch is applied, not committed
            read_ahead.set()
            await release.wait()

    handlers = {**HANDLERS, **dict.fromkeys(STATUS_HANDLERS, holding)}
    async with parts(postgres_url, nats_server, tenant, handlers) as found:
        async with found.db.session() as session:
            row = {"tenant": tenant, "agreement_id": "agr-1", "objective_id": "obj-1", "status": "at_risk"}
            await session.execute(repository.STORE_STATUS, [{**row, "observed_at": T0}])
        replica = Consumer(found.db, found.bus, name=found.consumer.name, handlers=handlers)
        first_batch = await found.fetched(first)
        second_batch = await found.fetched(second)

        async def waiting_on_a_lock() -> bool:
            async with found.db.session() as session:
                waiting = (
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
                return bool(await session.scalar(text(waiting)))

        with statements_on_statuses(found.db) as statements:
            holding_task = asyncio.create_task(found.consumer.handle_batch(first_batch, STREAM))
            await read_ahead.wait()
            waiting_task = asyncio.create_task(replica.handle_batch(second_batch, STREAM))
            await wait_until(waiting_on_a_lock)
            release.set()
            await asyncio.gather(holding_task, waiting_task)
        told = await found.told()
        latest = await found.latest(tenant)
    assert told == {item.id: 1 for item in first + second[1:]}
    assert latest["obj-1"] == ("breached", T3)
    # both runs were read ahead: each upserted its firsts in one statement, not an upsert per event
    assert sum("RETURNING objective_status_seen.tenant" in statement for statement in statements) == 2, statements


async def test_a_status_event_failing_mid_run_is_dead_lettered_alone_and_the_others_told_once(
    database_url: str, nats_server: NatsServer, tenant: str
) -> None:
    events = [status(tenant, "breached", "agr-1", f"obj-{n}", T1) for n in range(8)]
    poison = events[5]
    async with parts(database_url, nats_server, tenant) as found:
        messages = await found.fetched(events, data={poison.id: {**poison.data, "severity": "apocalyptic"}})
        await found.consumer.handle_batch(messages, STREAM)
        await wait_until(found.settled)
        async with found.db.session(read_only=True) as session:
            letters = list(await session.scalars(select(DeadLetter.event_id)))
        told = await found.told()
        latest = await found.latest(tenant)
    assert letters == [poison.id]
    assert told == {item.id: 1 for item in events if item is not poison}
    assert set(latest) == {f"obj-{n}" for n in range(8) if n != 5}


async def test_a_batch_whose_statuses_fail_at_commit_goes_one_by_one_and_each_is_told_once(
    database_url: str, nats_server: NatsServer, tenant: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    events = [status(tenant, "at_risk", "agr-1", f"obj-{n}", T1) for n in range(4)]
    events.append(status(tenant, "breached", "agr-1", "obj-0", T2))  # decided in memory, written at the commit
    missing = repository.STORE_STATUS.text.replace("INSERT INTO objective_status_seen ", "INSERT INTO no_such_table ")
    monkeypatch.setattr(repository, "STORE_STATUS", text(missing))
    async with parts(database_url, nats_server, tenant) as found:
        messages = await found.fetched(events)
        with statements_on_statuses(found.db) as statements:
            await found.consumer.handle_batch(messages, STREAM)
        await wait_until(found.settled)
        async with found.db.session(read_only=True) as session:
            letters = list(await session.scalars(select(DeadLetter.event_id)))
        told = await found.told()
        latest = await found.latest(tenant)
    assert any("no_such_table" in statement for statement in statements), statements  # the batch failed there
    assert letters == []
    assert told == {item.id: 1 for item in events}
    assert latest == {"obj-0": ("breached", T2), **{f"obj-{n}": ("at_risk", T1) for n in range(1, 4)}}


async def test_a_batch_holding_a_redelivery_is_not_read_ahead(
    database_url: str, nats_server: NatsServer, tenant: str
) -> None:
    events = [status(tenant, "breached", "agr-1", f"obj-{n}", T1) for n in range(6)]
    async with parts(database_url, nats_server, tenant) as found:
        (redelivered,) = await found.fetched(events[:1])
        await redelivered.nak()
        messages = await found.fetched(events[1:])
        while len(messages) < len(events):
            messages += await found.subscription.fetch(1, timeout=5)
        assert sorted(m.metadata.num_delivered or 1 for m in messages) == [1, 1, 1, 1, 1, 2]
        with statements_on_statuses(found.db) as statements:
            await found.consumer.handle_batch(messages, STREAM)
        await wait_until(found.settled)
        told = await found.told()
    assert told == {item.id: 1 for item in events}
    assert len(statements) == len(events), statements  # an upsert each
    assert all(statement.lstrip().startswith("INSERT") for statement in statements), statements
