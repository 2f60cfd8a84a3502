"""Catalog HTTP API."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from slm_catalog import repository, service
from slm_catalog.models import Offering
from slm_catalog.schemas import (
    Lifecycle,
    OfferingCreate,
    OfferingPublic,
    ServiceCreate,
    ServicePublic,
    ServiceType,
    ServiceUpdate,
)
from slm_shared.errors import PROBLEM_RESPONSES, NotFound
from slm_shared.web.concurrency import (
    IdempotencyKey,
    IfMatch,
    check_if_match,
    etag_for,
    remember_idempotent,
    replay_idempotent,
)
from slm_shared.web.deps import ReaderDep, SessionDep, StaffDep
from slm_shared.web.pagination import Page, PageDep

router = APIRouter(prefix="/v1", tags=["catalog"], responses=PROBLEM_RESPONSES)


def offering_public(offering: Offering) -> OfferingPublic:
    price = None
    if offering.price_amount is not None and offering.price_currency:
        price = {"amount": offering.price_amount, "currency": offering.price_currency, "period": offering.price_period}
    return OfferingPublic.model_validate({**offering.model_dump(), "price": price})


@router.post("/services", status_code=status.HTTP_201_CREATED, response_model=ServicePublic)
async def create_service(
    data: ServiceCreate,
    principal: StaffDep,
    session: SessionDep,
    request: Request,
    response: Response,
    idempotency_key: IdempotencyKey = None,
) -> object:
    """Add a service to the catalogue."""
    if replay := await replay_idempotent(session, request, tenant=principal.tenant, key=idempotency_key):
        return replay
    created = await service.create_service(session, tenant=principal.tenant, data=data)
    body = ServicePublic.model_validate(created)
    response.headers["ETag"] = etag_for(created.id, created.version)
    response.headers["Location"] = f"/v1/services/{created.id}"
    await remember_idempotent(
        session, request, tenant=principal.tenant, key=idempotency_key, status_code=201, body=body
    )
    return body


@router.get("/services", response_model=Page[ServicePublic])
async def list_services(
    principal: ReaderDep,
    session: SessionDep,
    page: PageDep,
    type: ServiceType | None = None,
    lifecycle: Lifecycle | None = None,
    q: Annotated[str | None, Query(max_length=200, description="text in name or key")] = None,
) -> Page[ServicePublic]:
    """List services, sorted by key."""
    if principal.is_customer_only:
        lifecycle = "live"
    rows, total = await repository.list_services(
        session, tenant=principal.tenant, limit=page.limit, offset=page.offset, type=type, lifecycle=lifecycle, text=q
    )
    return Page(
        items=[ServicePublic.model_validate(r) for r in rows], total=total, limit=page.limit, offset=page.offset
    )


@router.get("/services/{service_id}", response_model=ServicePublic)
async def get_service(service_id: str, principal: ReaderDep, session: SessionDep, response: Response) -> ServicePublic:
    """Read one service."""
    found = await service.require_service(session, tenant=principal.tenant, service_id=service_id)
    response.headers["ETag"] = etag_for(found.id, found.version)
    return ServicePublic.model_validate(found)


@router.patch("/services/{service_id}", response_model=ServicePublic)
async def update_service(
    service_id: str,
    data: ServiceUpdate,
    principal: StaffDep,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> ServicePublic:
    """Change a service; send If-Match with the ETag you read to avoid lost updates."""
    found = await service.require_service(session, tenant=principal.tenant, service_id=service_id)
    check_if_match(if_match, etag_for(found.id, found.version))
    updated = await service.update_service(session, service=found, data=data)
    response.headers["ETag"] = etag_for(updated.id, updated.version)
    return ServicePublic.model_validate(updated)


@router.post("/services/{service_id}/offerings", status_code=status.HTTP_201_CREATED, response_model=OfferingPublic)
async def create_offering(
    service_id: str,
    data: OfferingCreate,
    principal: StaffDep,
    session: SessionDep,
    request: Request,
    idempotency_key: IdempotencyKey = None,
) -> object:
    """Add a draft service-level tier (offering) with its price and standard targets."""
    if replay := await replay_idempotent(session, request, tenant=principal.tenant, key=idempotency_key):
        return replay
    parent = await service.require_service(session, tenant=principal.tenant, service_id=service_id)
    body = offering_public(await service.create_offering(session, service=parent, data=data))
    await remember_idempotent(
        session, request, tenant=principal.tenant, key=idempotency_key, status_code=201, body=body
    )
    return body


@router.get("/services/{service_id}/offerings", response_model=Page[OfferingPublic])
async def list_offerings(
    service_id: str, principal: ReaderDep, session: SessionDep, page: PageDep
) -> Page[OfferingPublic]:
    """List a service's offerings (every version), sorted by name and version."""
    await service.require_service(session, tenant=principal.tenant, service_id=service_id)
    rows, total = await repository.list_offerings(
        session, tenant=principal.tenant, service_id=service_id, limit=page.limit, offset=page.offset
    )
    items = [offering_public(r) for r in rows if r.status != "draft" or not principal.is_customer_only]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/offerings/{offering_id}", response_model=OfferingPublic)
async def get_offering(offering_id: str, principal: ReaderDep, session: SessionDep) -> OfferingPublic:
    """Read one offering."""
    offering = await repository.get_offering(session, tenant=principal.tenant, offering_id=offering_id)
    if offering is None or (offering.status == "draft" and principal.is_customer_only):
        raise NotFound(f"No offering {offering_id}")
    return offering_public(offering)


@router.post("/offerings/{offering_id}/publish", response_model=OfferingPublic)
async def publish_offering(offering_id: str, principal: StaffDep, session: SessionDep) -> OfferingPublic:
    """Freeze a draft offering; customers can then choose it and agreements copy its targets."""
    offering = await repository.get_offering(session, tenant=principal.tenant, offering_id=offering_id)
    if offering is None:
        raise NotFound(f"No offering {offering_id}")
    parent = await service.require_service(session, tenant=principal.tenant, service_id=offering.service_id)
    return offering_public(await service.publish_offering(session, offering=offering, service=parent))
