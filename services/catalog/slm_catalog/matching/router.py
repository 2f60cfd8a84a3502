"""Requirement matching: the tiers that meet a requirement, or what a customer-specific service must add."""

from __future__ import annotations

from decimal import Decimal

from fastapi import APIRouter

from slm_catalog.calendars.schemas import to_calendar
from slm_catalog.calendars.service import calendar_documents
from slm_catalog.common import invalid
from slm_catalog.indicators.service import indicator_catalogue
from slm_catalog.matching.match import OfferedTier, requirements_missed, tier_gaps, unmet_requirements
from slm_catalog.matching.schemas import Candidate, MatchResult, Requirement, UnmetRequirement
from slm_catalog.offerings import repository as offerings_repository
from slm_catalog.offerings.views import tier_of
from slm_catalog.services import repository as services_repository
from slm_catalog.services.schemas import ServiceRef
from slm_shared import calendars
from slm_shared.contracts import targets
from slm_shared.errors import PROBLEM_RESPONSES
from slm_shared.web.deps import ReaderDep, SessionDep

router = APIRouter(prefix="/v1", tags=["requirement matching"], responses=PROBLEM_RESPONSES)


@router.post("/requirements/match", response_model=MatchResult)
async def match_requirement(requirement: Requirement, principal: ReaderDep, session: SessionDep) -> MatchResult:
    """Rank the current tiers that meet a service level requirement by price, or say what no tier meets."""
    tenant = principal.tenant
    if requirement.support_hours is not None:
        try:
            calendars.check_timezone(requirement.support_hours.timezone)
        except ValueError as exc:
            raise invalid("support_hours.timezone", str(exc)) from exc
    indicators = await indicator_catalogue(session, tenant=tenant)
    for index, wanted in enumerate(requirement.targets):
        if wanted.indicator not in indicators:
            raise invalid(f"targets.{index}.indicator", f"unknown indicator {wanted.indicator!r}")
        for field, reason in targets.wanted_problems(wanted).items():
            raise invalid(f"targets.{index}.{field}", reason)
    services = [s for s in await services_repository.all_services(session, tenant=tenant) if s.lifecycle == "live"]
    if requirement.service_id or requirement.service_key:
        services = [s for s in services if s.id == requirement.service_id or s.key == requirement.service_key]
        if not services:
            field = "service_id" if requirement.service_id else "service_key"
            raise invalid(field, "no live service with this identity")
    by_id = {s.id: s for s in services}
    documents = await calendar_documents(session, tenant=tenant)
    units = {key: item.unit for key, item in indicators.items()}
    candidates: list[Candidate] = []
    for offering in await offerings_repository.published_for_services(session, tenant=tenant, service_ids=by_id):
        support = documents.get(offering.support_calendar or "24x7")
        tier = tier_of(offering)
        offered = OfferedTier(
            targets=offering.targets,
            ticket_targets=offering.ticket_targets,
            support_hours=to_calendar(support) if support else calendars.ALWAYS,
            price=tier.price.model_dump() if tier.price else None,
            units=units,
        )
        gaps = tier_gaps(requirement, offered)
        service = ServiceRef.model_validate(by_id[offering.service_id])
        candidates.append(Candidate(service=service, tier=tier, meets=not gaps, gaps=gaps))

    def by_price(candidate: Candidate) -> tuple[bool, Decimal, str, str]:
        price = candidate.tier.monthly_price
        return (price is None, price or Decimal(0), candidate.service.key, candidate.tier.name)

    matches = sorted((c for c in candidates if c.meets), key=by_price)
    closest = sorted((c for c in candidates if not c.meets), key=lambda c: (requirements_missed(c.gaps), *by_price(c)))
    if matches:
        return MatchResult(
            outcome="offering", needs_customer_specific_service=False, matches=matches, closest=closest, unmet=[]
        )
    unmet = [
        UnmetRequirement(
            requirement=gap.requirement,
            message=gap.message,
            closest_offering_id=offering_id,
            shortfall=gap.shortfall,
            unit=gap.unit,
        )
        for offering_id, gap in unmet_requirements([(c.tier.offering_id, c.gaps) for c in candidates])
    ]
    if not candidates:
        unmet = [
            UnmetRequirement(
                requirement="service_id",
                message="no live service offers a published tier",
                closest_offering_id=None,
                shortfall=None,
                unit="",
            )
        ]
    return MatchResult(
        outcome="customer_specific_service",
        needs_customer_specific_service=True,
        matches=[],
        closest=closest,
        unmet=unmet,
    )
