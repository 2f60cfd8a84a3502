"""What a customer chooses from: live services with their current tiers, and tiers side by side."""

from __future__ import annotations

from decimal import Decimal
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel

from slm_catalog.common import customer_only
from slm_catalog.indicators.service import indicator_catalogue
from slm_catalog.models import Offering
from slm_catalog.offerings import repository, rules
from slm_catalog.offerings.schemas import Price, Target
from slm_catalog.offerings.service import public
from slm_catalog.services import repository as services_repository
from slm_catalog.services.schemas import ServiceRef, ServiceType
from slm_catalog.services.service import require_service
from slm_shared.errors import PROBLEM_RESPONSES
from slm_shared.web.deps import ReaderDep, SessionDep
from slm_shared.web.pagination import Page, PageDep

router = APIRouter(prefix="/v1", tags=["customer view"], responses=PROBLEM_RESPONSES)


class Tier(BaseModel):
    offering_id: str
    name: str
    version: int
    price: Price | None
    monthly_price: Decimal | None
    support_calendar: str | None


class CatalogEntry(BaseModel):
    service: ServiceRef
    description: str
    tiers: list[Tier]


class TargetRow(BaseModel):
    """One indicator and window, with each tier's target (null where a tier promises nothing)."""

    indicator: str
    indicator_name: str
    unit: str
    window: str
    values: list[Target | None]


class TicketRow(BaseModel):
    priority: str
    response_seconds: list[int | None]
    resolution_seconds: list[int | None]


class Comparison(BaseModel):
    service: ServiceRef
    tiers: list[Tier]
    targets: list[TargetRow]
    ticket_targets: list[TicketRow]


def tier_of(offering: Offering) -> Tier:
    price = public(offering).price
    monthly = rules.monthly_amount(price.amount, price.period).quantize(Decimal("0.01")) if price else None
    return Tier(
        offering_id=offering.id,
        name=offering.name,
        version=offering.version,
        price=price,
        monthly_price=monthly,
        support_calendar=offering.support_calendar,
    )


def _by_price(offerings: list[Offering]) -> list[Offering]:
    def key(offering: Offering) -> tuple[int, Decimal, str]:
        tier = tier_of(offering)
        return (tier.monthly_price is None, tier.monthly_price or Decimal(0), offering.name)

    return sorted(offerings, key=key)


def window_label(window: dict[str, Any]) -> str:
    if window["kind"] == "calendar":
        return f"calendar {window.get('unit')} ({window.get('timezone') or 'UTC'})"
    return f"rolling {window.get('duration')}"


@router.get("/catalog", response_model=Page[CatalogEntry])
async def browse_catalog(
    principal: ReaderDep,
    session: SessionDep,
    page: PageDep,
    type: ServiceType | None = None,
    tag: Annotated[str | None, Query(max_length=64)] = None,
    q: Annotated[str | None, Query(max_length=200)] = None,
) -> Page[CatalogEntry]:
    """Live services with their current tiers and prices, cheapest tier first."""
    services, total = await services_repository.list_services(
        session,
        tenant=principal.tenant,
        limit=page.limit,
        offset=page.offset,
        lifecycle="live",
        type=type,
        tag=tag,
        text=q,
    )
    offerings = await repository.published_for_services(
        session, tenant=principal.tenant, service_ids=[s.id for s in services]
    )
    entries = [
        CatalogEntry(
            service=ServiceRef.model_validate(item),
            description=item.description,
            tiers=[tier_of(o) for o in _by_price([o for o in offerings if o.service_id == item.id])],
        )
        for item in services
    ]
    return Page(items=entries, total=total, limit=page.limit, offset=page.offset)


@router.get("/services/{service_id}/comparison", response_model=Comparison)
async def compare_tiers(service_id: str, principal: ReaderDep, session: SessionDep) -> Comparison:
    """The current tiers of a service side by side: each target and price per tier."""
    found = await require_service(
        session, tenant=principal.tenant, service_id=service_id, live_only=customer_only(principal)
    )
    tiers = _by_price(
        list(await repository.published_for_services(session, tenant=principal.tenant, service_ids=[found.id]))
    )
    indicators = await indicator_catalogue(session, tenant=principal.tenant)
    rows: dict[tuple[str, str], list[Target | None]] = {}
    for index, offering in enumerate(tiers):
        for target in offering.targets:
            cells = rows.setdefault((target["indicator"], window_label(target["window"])), [None] * len(tiers))
            cells[index] = Target.model_validate(target)
    target_rows = [
        TargetRow(
            indicator=indicator,
            indicator_name=indicators[indicator].name if indicator in indicators else indicator,
            unit=indicators[indicator].unit if indicator in indicators else "",
            window=window,
            values=values,
        )
        for (indicator, window), values in sorted(rows.items())
    ]
    ticket_rows = []
    for priority in ("P1", "P2", "P3", "P4"):
        ticket_cells = [next((t for t in o.ticket_targets if t["priority"] == priority), None) for o in tiers]
        if any(ticket_cells):
            ticket_rows.append(
                TicketRow(
                    priority=priority,
                    response_seconds=[c.get("response_seconds") if c else None for c in ticket_cells],
                    resolution_seconds=[c.get("resolution_seconds") if c else None for c in ticket_cells],
                )
            )
    return Comparison(
        service=ServiceRef.model_validate(found),
        tiers=[tier_of(o) for o in tiers],
        targets=target_rows,
        ticket_targets=ticket_rows,
    )
