"""Indicator routes."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from slm_catalog.common import not_found
from slm_catalog.indicators import service
from slm_catalog.indicators.schemas import IndicatorCreate, IndicatorPublic, IndicatorUpdate
from slm_shared.errors import PROBLEM_RESPONSES
from slm_shared.web.concurrency import (
    IdempotencyDep,
    IfMatch,
    etag_for,
    lock_and_check_if_match,
)
from slm_shared.web.deps import ReaderDep, SessionDep, StaffDep
from slm_shared.web.pagination import Page, PageDep

router = APIRouter(prefix="/v1/indicators", tags=["indicators"], responses=PROBLEM_RESPONSES)


@router.get("", response_model=Page[IndicatorPublic])
async def list_indicators(
    principal: ReaderDep, session: SessionDep, page: PageDep, kind: str | None = None
) -> Page[IndicatorPublic]:
    """List the standard and tenant-defined indicators, sorted by key."""
    catalogue = await service.indicator_catalogue(session, tenant=principal.tenant)
    items = [IndicatorPublic.of(item) for key, item in sorted(catalogue.items()) if kind in (None, item.kind)]
    return Page(
        items=items[page.offset : page.offset + page.limit], total=len(items), limit=page.limit, offset=page.offset
    )


@router.get("/{key}", response_model=IndicatorPublic)
async def get_indicator(key: str, principal: ReaderDep, session: SessionDep, response: Response) -> IndicatorPublic:
    """Read one indicator, with the data its measurement needs."""
    catalogue = await service.indicator_catalogue(session, tenant=principal.tenant)
    if key not in catalogue:
        raise not_found("indicator", key)
    item = catalogue[key]
    if item.id:
        response.headers["ETag"] = etag_for(item.id, item.version)
    return IndicatorPublic.of(item)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=IndicatorPublic)
async def create_indicator(
    data: IndicatorCreate,
    principal: StaffDep,
    session: SessionDep,
    idempotency: IdempotencyDep,
) -> object:
    """Define a measurable indicator (ratio, threshold, timeslice or ticket_time)."""
    if replay := await idempotency.replay():
        return replay
    row = await service.create_indicator(session, tenant=principal.tenant, data=data)
    body = IndicatorPublic.of(service.definition_of(row))
    await idempotency.remember(body)
    return body


@router.patch("/{key}", response_model=IndicatorPublic)
async def update_indicator(
    key: str,
    data: IndicatorUpdate,
    principal: StaffDep,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> IndicatorPublic:
    """Rename or re-describe an indicator; its kind cannot change."""
    row = await service.require_row(session, tenant=principal.tenant, key=key)
    await lock_and_check_if_match(session, row, if_match)
    row = await service.update_indicator(session, row=row, data=data)
    response.headers["ETag"] = etag_for(row.id, row.version)
    return IndicatorPublic.of(service.definition_of(row))


@router.delete("/{key}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_indicator(key: str, principal: StaffDep, session: SessionDep) -> Response:
    """Remove an indicator no offering uses."""
    row = await service.require_row(session, tenant=principal.tenant, key=key)
    await service.delete_indicator(session, row=row)
    return Response(status_code=status.HTTP_204_NO_CONTENT)
