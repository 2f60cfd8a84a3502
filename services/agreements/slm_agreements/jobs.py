"""Scheduled work: expiry at the end of a term, renewal reminders, review reminders and overdue actions."""

from __future__ import annotations

import asyncio
import logging
from datetime import datetime, timedelta
from typing import cast

from sqlalchemy import Select, and_, select
from sqlmodel import col

from slm_agreements import events
from slm_agreements.actions.service import announce_overdue_actions
from slm_agreements.config import Settings
from slm_agreements.lifecycle import Actor
from slm_agreements.models import Agreement, AgreementVersion
from slm_agreements.negotiation.service import end
from slm_agreements.reviews.service import announce_due_reviews
from slm_shared.app import ServiceContext
from slm_shared.bus import carried_tenant, tenant_carried
from slm_shared.db import Database, utcnow
from slm_shared.tasks import checkpoint, pause

logger = logging.getLogger(__name__)
SYSTEM = Actor(subject="system", role="system", is_staff=True)
EXPIRY_BATCH = 200  # agreements one expiry pass claims


def _in_force() -> Select[tuple[Agreement, AgreementVersion]]:
    return select(Agreement, AgreementVersion).join(
        AgreementVersion,
        and_(
            col(AgreementVersion.agreement_id) == col(Agreement.id),
            col(AgreementVersion.version) == col(Agreement.in_force_version),
        ),
    )


async def expire_agreements(db: Database, *, now: datetime) -> int:
    """Expire every agreement whose version in force has reached its end."""
    async with db.session() as session:
        rows = (
            await session.execute(
                _in_force()
                .where(
                    col(AgreementVersion.effective_to).is_not(None),
                    col(AgreementVersion.effective_to) <= now,
                    carried_tenant(col(Agreement.tenant)),  # a skipped agreement would qualify again every pass
                )
                .limit(EXPIRY_BATCH)
                .with_for_update(of=Agreement, skip_locked=True)
            )
        ).all()
        expired = 0
        for agreement, _ in rows:
            if tenant_carried(agreement.tenant, job="expiry", item=f"agreement {agreement.id}"):
                await end(session, agreement=agreement, action="expire", actor=SYSTEM, comment="the term has ended")
                expired += 1
        return expired


async def remind_renewals(db: Database, *, now: datetime, lead_days: int) -> int:
    """Emit agreement.renewal_due once per version in force whose renewal notice period starts within `lead_days`."""
    async with db.session() as session:
        rows = (
            await session.execute(
                _in_force()
                .where(
                    col(AgreementVersion.effective_to).is_not(None),
                    col(AgreementVersion.renewal_reminded_at).is_(None),
                    col(AgreementVersion.effective_to) > now,
                )
                .with_for_update(of=AgreementVersion, skip_locked=True)  # another replica's claim is skipped
            )
        ).all()
        reminded = 0
        for agreement, version in rows:
            assert version.effective_to is not None
            notice_starts_at = version.effective_to - timedelta(days=version.renewal_notice_days or 0)
            if now >= notice_starts_at - timedelta(days=lead_days) and tenant_carried(
                agreement.tenant, job="renewal reminders", item=f"agreement {agreement.id}"
            ):
                version.renewal_reminded_at = now
                events.renewal_due(session, agreement, version, notice_starts_at)
                reminded += 1
        return reminded


async def run_once(context: ServiceContext) -> None:
    """One pass of every scheduled job."""
    settings = cast(Settings, context.settings)  # the agreements service runs with its own settings
    now = utcnow()
    await expire_agreements(context.db, now=now)
    await remind_renewals(context.db, now=now, lead_days=settings.renewal_reminder_days)
    await announce_due_reviews(context.db, lead_days=settings.review_notice_days, today=now.date())
    await announce_overdue_actions(context.db, today=now.date())


async def scheduled_jobs(context: ServiceContext) -> None:
    """Run the scheduled jobs every `jobs_interval_seconds`, surviving any one failure."""
    interval = cast(Settings, context.settings).jobs_interval_seconds
    while True:
        checkpoint()
        try:
            await run_once(context)
        except asyncio.CancelledError:
            raise
        except Exception:
            checkpoint()
            logger.exception("scheduled agreement jobs failed; retrying in %ss", interval)
        await pause(interval)
