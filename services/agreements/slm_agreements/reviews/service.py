"""Reviews: the schedule from the cycle, reminders ahead of time, and what a held review recorded."""

from __future__ import annotations

from datetime import date, timedelta

from sqlalchemy import delete, select
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from slm_agreements.models import Agreement, AgreementVersion, new_id
from slm_agreements.reviews.models import Review
from slm_agreements.reviews.schedule import review_dates
from slm_agreements.reviews.schemas import ReviewRecord
from slm_shared.bus import carried_tenant, record_event, tenant_carried
from slm_shared.contracts import EVENTS
from slm_shared.contracts.payloads import ReviewDueV1, ReviewHeldV1
from slm_shared.db import Database, utcnow
from slm_shared.errors import Conflict, FieldError, Unprocessable

DUE_BATCH = 500  # reviews one reminder pass claims


async def schedule(
    session: AsyncSession, agreement: Agreement, version: AgreementVersion, *, today: date
) -> list[Review]:
    """Plan the reviews of the version just put in force, replacing what the cycle planned for the one
    before; a review scheduled on a chosen date stays, and the cycle adds none on that date."""
    await session.execute(
        delete(Review).where(
            col(Review.tenant) == agreement.tenant,
            col(Review.agreement_id) == agreement.id,
            col(Review.status) == "scheduled",
            col(Review.planned) == "cycle",
        )
    )
    chosen = set(
        await session.scalars(
            select(col(Review.due_on)).where(
                col(Review.tenant) == agreement.tenant,
                col(Review.agreement_id) == agreement.id,
                col(Review.status) == "scheduled",
                col(Review.planned) == "chosen",
            )
        )
    )
    end = version.effective_to.date() if version.effective_to else None
    reviews = [
        Review(id=new_id(), tenant=agreement.tenant, agreement_id=agreement.id, due_on=due)
        for due in review_dates(version.effective_from.date(), version.review_cycle, after=today, end=end)
        if due not in chosen
    ]
    session.add_all(reviews)
    return reviews


async def schedule_on(session: AsyncSession, *, agreement: Agreement, due_on: date) -> Review:
    """A scheduled review on a chosen date (one per date: the same date gives the review already there)."""
    today = utcnow().date()
    if due_on < today or due_on > today + timedelta(days=731):
        message = "must be today or later, within two years"
        raise Unprocessable(f"due_on {message}", errors=[FieldError(field="due_on", message=message)])
    for existing in await list_reviews(session, agreement):
        if existing.due_on == due_on and existing.status == "scheduled":
            existing.planned = "chosen"  # the cycle's review on that date is now kept through re-planning
            await session.flush()
            return existing
    review = Review(id=new_id(), tenant=agreement.tenant, agreement_id=agreement.id, due_on=due_on, planned="chosen")
    session.add(review)
    await session.flush()
    return review


async def list_reviews(session: AsyncSession, agreement: Agreement) -> list[Review]:
    rows = await session.scalars(
        select(Review)
        .where(col(Review.tenant) == agreement.tenant, col(Review.agreement_id) == agreement.id)
        .order_by(col(Review.due_on), col(Review.id))
    )
    return list(rows.all())


async def record_review(session: AsyncSession, *, agreement: Agreement, data: ReviewRecord, recorded_by: str) -> Review:
    """Record a held review (a scheduled one, or one held out of cycle) and announce it."""
    if agreement.in_force_version is None and agreement.state not in ("active", "expired", "terminated"):
        raise Conflict(f"Only an agreement that has been in force is reviewed; it is {agreement.state}")
    if data.review_id is not None:
        review = await session.scalar(
            select(Review).where(
                col(Review.tenant) == agreement.tenant,
                col(Review.agreement_id) == agreement.id,
                col(Review.id) == data.review_id,
            )
        )
        if review is None:
            message = f"no review {data.review_id} of this agreement"
            raise Unprocessable(message, errors=[FieldError(field="review_id", message=message)])
        if review.status != "scheduled":
            raise Conflict(f"Review {review.id} is already {review.status}")
    else:
        review = Review(id=new_id(), tenant=agreement.tenant, agreement_id=agreement.id, due_on=data.held_on)
        session.add(review)
    review.status, review.held_on, review.recorded_by = "held", data.held_on, recorded_by
    review.attendees, review.summary, review.decisions = list(data.attendees), data.summary, list(data.decisions)
    await session.flush()
    record_event(
        session,
        EVENTS.review_held,
        tenant=agreement.tenant,
        subject=agreement.id,
        data=ReviewHeldV1(
            review_id=review.id,
            agreement_id=agreement.id,
            agreement_name=agreement.name,
            service_key=agreement.service_key,
            consumer_party_id=agreement.consumer_party_id,
            held_on=data.held_on,
            attendees=review.attendees,
            summary=review.summary,
            decisions=review.decisions,
        ),
    )
    return review


async def announce_due_reviews(db: Database, *, lead_days: int, today: date) -> int:
    """Emit review.due once for every scheduled review of an agreement in force due within `lead_days`."""
    async with db.session() as session:
        rows = (
            await session.execute(
                select(Review, Agreement)
                .join(Agreement, col(Agreement.id) == col(Review.agreement_id))
                .where(
                    col(Review.status) == "scheduled",
                    col(Review.due_notified_at).is_(None),
                    col(Review.due_on) <= today + timedelta(days=lead_days),
                    col(Agreement.in_force_version).is_not(None),
                    carried_tenant(col(Agreement.tenant)),  # a skipped review would qualify again every pass
                )
                .limit(DUE_BATCH)
                .with_for_update(of=Review, skip_locked=True)  # another replica's claim is skipped
            )
        ).all()
        now = utcnow()
        announced = 0
        for review, agreement in rows:
            if not tenant_carried(agreement.tenant, job="review reminders", item=f"review {review.id}"):
                continue
            announced += 1
            review.due_notified_at = now
            record_event(
                session,
                EVENTS.review_due,
                tenant=agreement.tenant,
                subject=agreement.id,
                data=ReviewDueV1(
                    review_id=review.id,
                    agreement_id=agreement.id,
                    agreement_name=agreement.name,
                    service_key=agreement.service_key,
                    consumer_party_id=agreement.consumer_party_id,
                    cycle=agreement.review_cycle,
                    due_on=review.due_on,
                ),
            )
        return announced
