"""Review routes: the schedule and the record of held reviews."""

from __future__ import annotations

from fastapi import APIRouter, status

from slm_agreements import service
from slm_agreements.reviews import service as reviews
from slm_agreements.reviews.schemas import ReviewPublic, ReviewRecord, ReviewSchedule
from slm_shared.errors import PROBLEM_RESPONSES
from slm_shared.web.deps import ReaderDep, SessionDep, StaffDep

router = APIRouter(prefix="/v1/agreements/{agreement_id}/reviews", tags=["reviews"], responses=PROBLEM_RESPONSES)


@router.get("", response_model=list[ReviewPublic])
async def list_reviews(agreement_id: str, principal: ReaderDep, session: SessionDep) -> list[ReviewPublic]:
    """The agreement's reviews by due date: scheduled from its review cycle, and held."""
    agreement = await service.require_agreement(session, principal=principal, agreement_id=agreement_id)
    return [ReviewPublic.model_validate(r) for r in await reviews.list_reviews(session, agreement)]


@router.post("/scheduled", status_code=status.HTTP_201_CREATED, response_model=ReviewPublic)
async def schedule_review(
    agreement_id: str, data: ReviewSchedule, principal: StaffDep, session: SessionDep
) -> ReviewPublic:
    """Schedule a review on a chosen date (staff); it is announced as due like the cycle's reviews."""
    agreement = await service.require_agreement(
        session, principal=principal, agreement_id=agreement_id, for_update=True
    )
    return ReviewPublic.model_validate(await reviews.schedule_on(session, agreement=agreement, due_on=data.due_on))


@router.post("", status_code=status.HTTP_201_CREATED, response_model=ReviewPublic)
async def record_review(
    agreement_id: str, data: ReviewRecord, principal: StaffDep, session: SessionDep
) -> ReviewPublic:
    """Record a held review: date, attendees, summary and decisions (staff); emits review.held."""
    agreement = await service.require_agreement(
        session, principal=principal, agreement_id=agreement_id, for_update=True
    )
    review = await reviews.record_review(session, agreement=agreement, data=data, recorded_by=principal.subject)
    return ReviewPublic.model_validate(review)
