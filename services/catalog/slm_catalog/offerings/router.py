"""Offering routes: tiers, their versions, publishing and retirement."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from slm_catalog.common import customer_only
from slm_catalog.offerings import repository, service
from slm_catalog.offerings.schemas import OfferingChanges, OfferingCreate, OfferingPublic, OfferingStatus
from slm_catalog.services.service import require_service
from slm_shared.auth import Principal
from slm_shared.errors import PROBLEM_RESPONSES
from slm_shared.web.concurrency import (
    IdempotencyDep,
    IfMatch,
    etag_for,
    lock_and_check_if_match,
)
from slm_shared.web.deps import ReaderDep, SessionDep, StaffDep
from slm_shared.web.pagination import Page, PageDep

router = APIRouter(prefix="/v1", tags=["offerings"], responses=PROBLEM_RESPONSES)


def _visible_statuses(principal: Principal, wanted: OfferingStatus | None) -> list[str] | None:
    if customer_only(principal):
        return ["published"] if wanted in (None, "published") else ["none"]
    return [wanted] if wanted else None


@router.post("/services/{service_id}/offerings", status_code=status.HTTP_201_CREATED, response_model=OfferingPublic)
async def create_offering(
    service_id: str,
    data: OfferingCreate,
    principal: StaffDep,
    session: SessionDep,
    idempotency: IdempotencyDep,
    response: Response,
) -> object:
    """Add a draft tier with its price, support hours, targets, ticket targets and service credits."""
    if replay := await idempotency.replay():
        return replay
    parent = await require_service(session, tenant=principal.tenant, service_id=service_id)
    created = await service.create_offering(session, service=parent, data=data)
    body = service.public(created)
    headers = {"ETag": etag_for(created.id, created.revision), "Location": f"/v1/offerings/{created.id}"}
    response.headers.update(headers)
    await idempotency.remember(body, headers=headers)
    return body


@router.get("/services/{service_id}/offerings", response_model=Page[OfferingPublic])
async def list_service_offerings(
    service_id: str, principal: ReaderDep, session: SessionDep, page: PageDep, status: OfferingStatus | None = None
) -> Page[OfferingPublic]:
    """List a service's offerings (every version), sorted by name and version; customers see current ones."""
    await require_service(session, tenant=principal.tenant, service_id=service_id, live_only=customer_only(principal))
    rows, total = await repository.list_offerings(
        session,
        tenant=principal.tenant,
        service_id=service_id,
        statuses=_visible_statuses(principal, status),
        limit=page.limit,
        offset=page.offset,
    )
    return Page(items=[service.public(r) for r in rows], total=total, limit=page.limit, offset=page.offset)


@router.get("/offerings", response_model=Page[OfferingPublic])
async def list_offerings(
    principal: ReaderDep, session: SessionDep, page: PageDep, status: OfferingStatus | None = None
) -> Page[OfferingPublic]:
    """List every offering of the tenant, by service, name and version."""
    rows, total = await repository.list_offerings(
        session,
        tenant=principal.tenant,
        statuses=_visible_statuses(principal, status),
        limit=page.limit,
        offset=page.offset,
    )
    return Page(items=[service.public(r) for r in rows], total=total, limit=page.limit, offset=page.offset)


@router.get("/offerings/{offering_id}", response_model=OfferingPublic)
async def get_offering(
    offering_id: str, principal: ReaderDep, session: SessionDep, response: Response
) -> OfferingPublic:
    """Read one offering version (older versions stay readable)."""
    offering = await service.require_offering(
        session, tenant=principal.tenant, offering_id=offering_id, published_only=customer_only(principal)
    )
    response.headers["ETag"] = etag_for(offering.id, offering.revision)
    return service.public(offering)


@router.get("/offerings/{offering_id}/versions", response_model=list[OfferingPublic])
async def offering_versions(offering_id: str, principal: StaffDep, session: SessionDep) -> list[OfferingPublic]:
    """Every version of this offering's tier, oldest first."""
    offering = await service.require_offering(session, tenant=principal.tenant, offering_id=offering_id)
    versions = await repository.series_versions(session, tenant=principal.tenant, series_id=offering.series_id)
    return [service.public(v) for v in versions]


@router.patch("/offerings/{offering_id}", response_model=OfferingPublic)
async def edit_offering(
    offering_id: str,
    data: OfferingChanges,
    principal: StaffDep,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> OfferingPublic:
    """Edit a draft; editing a published offering drafts its next version (201, Location of the new version)."""
    offering = await service.require_offering(session, tenant=principal.tenant, offering_id=offering_id)
    await lock_and_check_if_match(session, offering, if_match, version_field="revision")
    edited, new_version = await service.edit_offering(session, offering=offering, data=data)
    response.headers["ETag"] = etag_for(edited.id, edited.revision)
    if new_version:
        response.status_code = status.HTTP_201_CREATED
        response.headers["Location"] = f"/v1/offerings/{edited.id}"
    return service.public(edited)


@router.post("/offerings/{offering_id}/publish", response_model=OfferingPublic)
async def publish_offering(offering_id: str, principal: StaffDep, session: SessionDep) -> OfferingPublic:
    """Freeze a draft; customers can then choose it and agreements copy its targets."""
    offering = await service.require_offering(session, tenant=principal.tenant, offering_id=offering_id)
    parent = await require_service(session, tenant=principal.tenant, service_id=offering.service_id)
    return service.public(await service.publish_offering(session, offering=offering, service=parent))


@router.post("/offerings/{offering_id}/retire", response_model=OfferingPublic)
async def retire_offering(offering_id: str, principal: StaffDep, session: SessionDep) -> OfferingPublic:
    """Withdraw a published offering from the catalogue; existing agreements keep their copy."""
    offering = await service.require_offering(session, tenant=principal.tenant, offering_id=offering_id)
    parent = await require_service(session, tenant=principal.tenant, service_id=offering.service_id)
    return service.public(await service.retire_offering(session, offering=offering, service=parent))
