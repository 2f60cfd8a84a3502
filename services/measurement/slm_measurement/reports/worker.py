"""The report worker: when an agreement's month closes, record `report.ready` once for it."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime

from sqlalchemy import Column, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import Field, SQLModel, col

from slm_measurement import failures
from slm_measurement.config import Settings
from slm_measurement.reports import periods
from slm_measurement.reports.build import agreement_report
from slm_measurement.terms import AgreementTerms
from slm_shared.app import ServiceContext
from slm_shared.bus import record_event
from slm_shared.contracts import EVENTS
from slm_shared.contracts.payloads import ReportReadyV1
from slm_shared.db import Database, UTCDateTime, utcnow
from slm_shared.tasks import checkpoint, pause
from slm_shared.terms import in_force

logger = logging.getLogger(__name__)


class ReportIssued(SQLModel, table=True):
    """A period whose `report.ready` was recorded (once per agreement and period)."""

    __tablename__ = "reports_issued"

    tenant: str = Field(max_length=64, primary_key=True)
    agreement_id: str = Field(max_length=64, primary_key=True)
    period: str = Field(max_length=32, primary_key=True)
    issued_at: datetime = Field(default_factory=utcnow, sa_column=Column(UTCDateTime, nullable=False))


async def issue_closed_months(session: AsyncSession, *, now: datetime, trend_count: int) -> int:
    """Record `report.ready` for every agreement whose last month closed and was not yet reported.

    Each report is built in its own savepoint: one that fails is rolled back alone, recorded in
    `item_failures` with the reason and retried after a backoff, while the others are issued.
    """
    every: dict[tuple[str, str], list[AgreementTerms]] = {}
    for row in (await session.scalars(select(AgreementTerms).order_by(col(AgreementTerms.version)))).all():
        every.setdefault((row.tenant, row.agreement_id), []).append(row)
    held = await failures.held_back(session, kind=failures.REPORT, now=now)
    on_record = await failures.recorded(session, kind=failures.REPORT)
    issued, done = 0, []
    for (tenant, agreement_id), versions in sorted(every.items()):
        row = versions[-1]
        period = periods.last_closed_month(now, row.timezone)
        item_id = f"{agreement_id}/{period.label}"
        if item_id in held or not in_force.within([v.activated() for v in versions], period.start, period.end):
            continue
        if await session.get(ReportIssued, (tenant, agreement_id, period.label)) is not None:
            if item_id in on_record:
                done.append(item_id)  # issued meanwhile (by another replica): nothing failing any more
            continue
        try:
            async with session.begin_nested():
                await _issue(session, row, period, now=now, trend_count=trend_count)
        except Exception as exc:  # noqa: BLE001 - one bad report must not block the others
            await failures.record(session, kind=failures.REPORT, tenant=tenant, item_id=item_id, error=exc, now=now)
            continue
        done.append(item_id)
        issued += 1
    await failures.succeeded(session, kind=failures.REPORT, item_ids=done)
    return issued


async def _issue(
    session: AsyncSession, row: AgreementTerms, period: periods.Period, *, now: datetime, trend_count: int
) -> None:
    """Build the period's report and record `report.ready` for it, once."""
    tenant, agreement_id = row.tenant, row.agreement_id
    report = await agreement_report(session, row, period, trend_count=trend_count, now=now)
    session.add(ReportIssued(tenant=tenant, agreement_id=agreement_id, period=period.label))
    record_event(
        session,
        EVENTS.report_ready,
        tenant=tenant,
        subject=agreement_id,
        data=ReportReadyV1(
            agreement_id=agreement_id,
            agreement_name=row.name,
            service_key=row.service_key,
            consumer_party_id=row.consumer_party_id,
            period=period.label,
            period_start=period.start,
            period_end=period.end,
            report_path=f"/v1/agreements/{agreement_id}/report?period={period.label}",
            objectives_missed=report["objectives_missed"],
            credit_percent=report["credit"]["percent"],
        ),
    )
    await session.flush()


async def run_once(db: Database, *, trend_count: int, now: datetime | None = None) -> int:
    async with db.session() as session:
        return await issue_closed_months(session, now=now or utcnow(), trend_count=trend_count)


async def report_ready_worker(context: ServiceContext) -> None:
    """Notice closed months and announce their reports, forever."""
    settings = context.settings
    assert isinstance(settings, Settings)
    while True:
        checkpoint()
        try:
            await run_once(context.db, trend_count=settings.report_trend_periods)
        except asyncio.CancelledError:
            raise
        except Exception as exc:  # noqa: BLE001 - the worker must outlive any single failure
            checkpoint()
            logger.warning("report pass failed (%s); retrying", exc)
        await pause(settings.report_check_seconds)
