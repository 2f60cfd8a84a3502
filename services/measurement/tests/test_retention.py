"""Retention deletes what no one needs any more and keeps what is still needed (SQLite and PostgreSQL)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, insert, select, text

from slm_measurement import retention
from slm_measurement.config import Settings
from slm_measurement.models import DayBucket, DayValueBin, HourBucket, MinuteBucket, MinuteValueBin, Objective
from slm_measurement.tickets.models import Ticket, TicketEventRow, TicketOutcome
from slm_shared.bus.models import InboxMessage, OutboxMessage
from slm_shared.db import Database
from slm_shared.migrations import upgrade
from slm_shared.retention import redelivery_horizon, run_retention
from slm_shared.web.concurrency import IdempotencyRecord

NOW = datetime(2026, 6, 30, 12, 0, tzinfo=UTC)
MINUTE_NOW = int(NOW.timestamp()) // 60


def minutes_ago(days: float) -> int:
    return MINUTE_NOW - int(days * 1440)


def objective(n: int, **window: Any) -> dict[str, Any]:
    return {
        "id": f"row-{n}",
        "tenant": "acme",
        "agreement_id": f"agr-{n}",
        "agreement_version": 1,
        "agreement_kind": "SLA",
        "objective_id": "avail",
        "service_key": "checkout",
        "indicator": "availability",
        "target": 0.99,
        "maintenance_windows": [],
        "details": {},
        "firing_alerts": [],
        "created_at": NOW,
        "updated_at": NOW,
        **window,
    }


async def bucket_minutes(db: Database, service: str) -> list[int]:
    async with db.session() as session:
        rows = await session.scalars(select(MinuteBucket.minute).where(MinuteBucket.service == service))
        return sorted(rows.all())


async def seed_minutes(db: Database, service: str, ages_in_days: list[float]) -> None:
    rows = [
        {"tenant": "acme", "service": service, "indicator": "availability", "scope": scope, "minute": minutes_ago(d)}
        for d in ages_in_days
        for scope in ("", "eu")
    ]
    async with db.session() as session:
        await session.execute(insert(MinuteBucket), [{**r, "good": 1.0, "total": 1.0} for r in rows])
        await session.execute(insert(MinuteValueBin), [{**r, "bin": 3, "samples": 1.0} for r in rows])
        hour = {"tenant": "acme", "service": service, "indicator": "availability", "scope": ""}
        await session.execute(insert(HourBucket), [hour | {"hour": minutes_ago(400) // 60, "good": 1.0, "total": 1.0}])


async def migrated(url: str) -> Database:
    await upgrade("slm_measurement", url)
    return Database(url)


async def test_minute_data_goes_once_no_window_reads_it(database_url: str) -> None:
    db = await migrated(database_url)
    settings = Settings(database_url=database_url, minute_retention_days=1, report_trend_periods=3)
    try:
        await seed_minutes(db, "checkout", [400, 215, 200, 150, 20, 0.5])
        await seed_minutes(db, "orphan", [200, 9, 7.5, 2])
        async with db.session() as session:
            days = [
                {"tenant": "acme", "service": s, "indicator": "availability", "scope": "", "day": d}
                for s in ("checkout", "orphan")
                for d in (minutes_ago(400) // 1440, minutes_ago(200) // 1440)
            ]  # rolled up with the minutes at ingest: the job finds the series with old minutes from them
            await session.execute(insert(DayBucket), [d | {"good": 1.0, "total": 1.0} for d in days])
            await session.execute(insert(DayValueBin), [d | {"bin": 3, "samples": 1.0} for d in days])
            # a 30-week rolling window (210 days) reads back further than the monthly report's 155 days
            await session.execute(insert(Objective), [objective(1, window_kind="rolling", window_duration="30w")])

        counts = await run_retention(db, settings, now=NOW, extra=retention.purges)

        # 210 days of window plus a day of zone slack, cut at the UTC day: 400 and 215 days ago go
        assert await bucket_minutes(db, "checkout") == sorted(
            [minutes_ago(d) for d in (200, 150, 20, 0.5) for _ in range(2)]
        )
        assert await bucket_minutes(db, "orphan") == sorted(
            [minutes_ago(d) for d in (200, 9, 7.5, 2) for _ in range(2)]
        )
        assert counts["minute_buckets"] == 4
        async with db.session() as session:
            bins = await session.scalar(select(func.count()).select_from(MinuteValueBin))
            hours = await session.scalar(select(func.count()).select_from(HourBucket))
            days = await session.scalar(select(func.count()).select_from(DayBucket))
        assert (bins, hours, days) == (20 - 4, 2, 4)  # the rollups are never deleted

        # without the long objective: the report's reach (month and 3 trend months, 155 days) decides
        async with db.session() as session:
            await session.execute(text("UPDATE objectives SET window_duration = '28d'"))
        await run_retention(db, settings, now=NOW, extra=retention.purges)
        assert await bucket_minutes(db, "checkout") == sorted(
            [minutes_ago(d) for d in (150, 20, 0.5) for _ in range(2)]
        )

        # no objective at all: the lateness watermark (7 days) plus a day, cut at the day, is still kept
        async with db.session() as session:
            await session.execute(text("UPDATE objectives SET ended = :yes"), {"yes": True})
        await run_retention(db, settings, now=NOW, extra=retention.purges)
        assert await bucket_minutes(db, "orphan") == sorted([minutes_ago(d) for d in (7.5, 2) for _ in range(2)])
        assert await bucket_minutes(db, "checkout") == sorted([minutes_ago(0.5)] * 2)
    finally:
        await db.dispose()


async def count(db: Database, table: Any) -> int:
    async with db.session() as session:
        return int(await session.scalar(select(func.count()).select_from(table)) or 0)


async def test_outbox_inbox_and_idempotency_keys(database_url: str) -> None:
    db = await migrated(database_url)
    settings = Settings(database_url=database_url, outbox_retention_days=2, inbox_retention_days=0.0001)
    settings = settings.model_copy(update={"idempotency_retention_days": 1})
    horizon = redelivery_horizon(settings)
    assert timedelta(minutes=2) < horizon < timedelta(hours=1)  # 5 deliveries x 30 s ack wait, plus backoff
    try:
        async with db.session() as session:
            old, recent = NOW - timedelta(days=5), NOW - timedelta(days=1)
            for n, (created, sent) in enumerate([(old, old), (old, None), (recent, recent)]):
                session.add(
                    OutboxMessage(
                        event_id=f"e{n}",
                        tenant="acme",
                        subject="s",
                        type="t",
                        headers={},
                        body="{}",
                        created_at=created,
                        sent_at=sent,
                    )
                )
            for n, age in enumerate([timedelta(hours=2), horizon - timedelta(seconds=30), timedelta(seconds=1)]):
                session.add(
                    InboxMessage(
                        consumer="measurement", event_id=f"i{n}", event_type="t", tenant="acme", processed_at=NOW - age
                    )
                )
            for n, age in enumerate([timedelta(days=3), timedelta(hours=1)]):
                session.add(
                    IdempotencyRecord(
                        tenant="acme",
                        key=f"k{n}",
                        scope="POST /v1/x",
                        request_hash="h",
                        status_code=201,
                        body={},
                        created_at=NOW - age,
                    )
                )
        counts = await run_retention(db, settings, now=NOW, extra=retention.purges)
        assert (counts["outbox"], counts["inbox"], counts["idempotency_keys"]) == (1, 1, 1)
        async with db.session() as session:
            outbox = sorted((await session.scalars(select(OutboxMessage.event_id))).all())
            inbox = sorted((await session.scalars(select(InboxMessage.event_id))).all())
            keys = sorted((await session.scalars(select(IdempotencyRecord.key))).all())
        assert outbox == ["e1", "e2"]  # the unsent one stays however old, the recent sent one too
        assert inbox == ["i1", "i2"]  # past the 9-second setting but inside the redelivery horizon: kept
        assert keys == ["k1"]
    finally:
        await db.dispose()


async def test_closed_tickets_go_with_their_events_and_outcomes_stay(database_url: str) -> None:
    db = await migrated(database_url)
    settings = Settings(database_url=database_url, ticket_retention_days=30)
    old, recent = NOW - timedelta(days=60), NOW - timedelta(days=5)
    cases = {
        "T-closed-old": ("closed", old, None),
        "T-cancelled-old": ("cancelled", old, None),
        "T-open-old": ("open", old, None),
        "T-resolved-due": ("resolved", old, NOW),
        "T-closed-recent": ("closed", recent, None),
    }
    try:
        async with db.session() as session:
            for ticket_id, (state, updated, due) in cases.items():
                row = Ticket(
                    id=f"row-{ticket_id}",
                    tenant="acme",
                    ticket_id=ticket_id,
                    service_key="checkout",
                    state=state,
                    updated_at=updated,
                    next_due_at=due,
                )
                session.add(row)
                for n in range(3):
                    session.add(
                        TicketEventRow(
                            tenant="acme", event_id=f"{ticket_id}-{n}", ticket_id=ticket_id, at=updated, kind="opened"
                        )
                    )
                session.add(
                    TicketOutcome(
                        ticket_row_id=row.id,
                        clock="resolution",
                        tenant="acme",
                        agreement_id="agr",
                        priority="P1",
                        concluded_at=updated,
                        met=True,
                    )
                )
            # another tenant's ticket of the same id is a different ticket: its events stay
            session.add(Ticket(id="row-other", tenant="other", ticket_id="T-open-old", service_key="x", state="open"))
            session.add(TicketEventRow(tenant="other", event_id="o", ticket_id="T-closed-old", at=old, kind="opened"))
        counts = await run_retention(db, settings, now=NOW, extra=retention.purges)
        assert counts["tickets"] == 2
        async with db.session() as session:
            tickets = sorted((await session.scalars(select(Ticket.ticket_id).where(Ticket.tenant == "acme"))).all())
            events = (await session.execute(select(TicketEventRow.tenant, TicketEventRow.ticket_id))).all()
            outcomes = await session.scalar(select(func.count()).select_from(TicketOutcome))
        assert tickets == ["T-closed-recent", "T-open-old", "T-resolved-due"]
        assert sorted(set(events)) == [
            ("acme", "T-closed-recent"),
            ("acme", "T-open-old"),
            ("acme", "T-resolved-due"),
            ("other", "T-closed-old"),
        ]
        assert len(events) == 10
        assert outcomes == 5
    finally:
        await db.dispose()


async def test_two_replicas_purging_at_once_delete_each_row_once(postgres_url: str) -> None:
    first, second = await migrated(postgres_url), Database(postgres_url)
    settings = Settings(database_url=postgres_url, outbox_retention_days=1, retention_batch_size=50)
    try:
        async with first.session() as session:
            await session.execute(
                insert(OutboxMessage),
                [
                    {"event_id": f"e{n}", "tenant": "acme", "subject": "s", "type": "t", "headers": {}, "body": "{}"}
                    | {"created_at": NOW - timedelta(days=3), "sent_at": NOW - timedelta(days=3), "attempts": 1}
                    for n in range(1000)
                ],
            )
        results = await asyncio.gather(
            run_retention(first, settings, now=NOW, extra=retention.purges),
            run_retention(second, settings, now=NOW, extra=retention.purges),
        )
        assert results[0]["outbox"] + results[1]["outbox"] == 1000
        assert await count(first, OutboxMessage) == 0
    finally:
        await first.dispose()
        await second.dispose()


@pytest.mark.parametrize("text", ["1e400", "inf", "nan", "-1", "0", "36501"])
def test_retention_days_must_be_finite_positive_and_bounded(monkeypatch: pytest.MonkeyPatch, text: str) -> None:
    from pydantic import ValidationError

    from slm_measurement.config import Settings as MeasurementSettings

    for name in (
        "MEASUREMENT_MINUTE_RETENTION_DAYS",
        "MEASUREMENT_TICKET_RETENTION_DAYS",
        "MEASUREMENT_OUTBOX_RETENTION_DAYS",
    ):
        monkeypatch.setenv(name, text)
        with pytest.raises(ValidationError) as refused:
            MeasurementSettings()
        assert name.removeprefix("MEASUREMENT_").lower() in str(refused.value)
        monkeypatch.delenv(name)
    monkeypatch.setenv("MEASUREMENT_MINUTE_RETENTION_DAYS", "36500")
    assert MeasurementSettings().minute_retention_days == 36500
