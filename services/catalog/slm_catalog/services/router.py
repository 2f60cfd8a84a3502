"""Service routes."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from fastapi import APIRouter, Request, Response, status

from slm_catalog.common import customer_only
from slm_catalog.services import repository, service
from slm_catalog.services.page_json import service_page_json
from slm_catalog.services.schemas import (
    ServiceCreate,
    ServiceListQuery,
    ServicePublic,
    ServiceUpdate,
)
from slm_shared.errors import PROBLEM_RESPONSES
from slm_shared.reads import Reader
from slm_shared.web.concurrency import (
    IdempotencyDep,
    IfMatch,
    etag_for,
    lock_and_check_if_match,
)
from slm_shared.web.conditional import CONDITIONAL_OPENAPI, NOT_MODIFIED_RESPONSES, conditional_json
from slm_shared.web.deps import ReaderDep, SessionDep, StaffDep
from slm_shared.web.pagination import Page
from slm_shared.web.query import QueryModel

router = APIRouter(prefix="/v1", tags=["services"], responses=PROBLEM_RESPONSES)


@router.post("/services", status_code=status.HTTP_201_CREATED, response_model=ServicePublic)
async def create_service(
    data: ServiceCreate,
    principal: StaffDep,
    session: SessionDep,
    idempotency: IdempotencyDep,
    response: Response,
) -> object:
    """Add a service to the catalogue."""
    if replay := await idempotency.replay():
        return replay
    created = await service.create_service(session, tenant=principal.tenant, data=data)
    body = ServicePublic.model_validate(created)
    headers = {"ETag": etag_for(created.id, created.version), "Location": f"/v1/services/{created.id}"}
    response.headers.update(headers)
    await idempotency.remember(body, headers=headers)
    return body


LIST_QUERY = QueryModel(ServiceListQuery)


@router.get(
    "/services",
    response_model=Page[ServicePublic],
    responses=NOT_MODIFIED_RESPONSES,
    openapi_extra=LIST_QUERY.openapi(CONDITIONAL_OPENAPI),
)
async def list_services(principal: ReaderDep, request: Request) -> object:
    """List services with filters; customers see live services only.

    The answer carries an `ETag`; send it back in `If-None-Match` to get 304 with no body while the page is the same.
    """
    query = LIST_QUERY.parse(request)  # the parameters in `openapi_extra`, validated in one call
    live_only = customer_only(principal)
    rows: Sequence[Any] = []
    total = 0
    if not live_only or query.lifecycle in (None, "live"):  # customers see live services only
        reads: Reader = request.app.state.db.reader  # not a dependency: one level less to resolve per request
        rows, total = await repository.service_page(
            reads,
            tenant=principal.tenant,
            limit=query.limit,
            offset=query.offset,
            type=query.type,
            lifecycle="live" if live_only else query.lifecycle,
            tag=query.tag,
            owner=query.owner,
            text=query.q,
            sort=query.sort,
        )
    body = service_page_json(rows, total=total, limit=query.limit, offset=query.offset)
    return conditional_json(request, body)


@router.get("/services/{service_id}", response_model=ServicePublic)
async def get_service(service_id: str, principal: ReaderDep, session: SessionDep, response: Response) -> ServicePublic:
    """Read one service."""
    found = await service.require_service(
        session, tenant=principal.tenant, service_id=service_id, live_only=customer_only(principal)
    )
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
    """Change a service (lifecycle only forward: pipeline, live, retired); send If-Match with the ETag read."""
    found = await service.require_service(session, tenant=principal.tenant, service_id=service_id)
    await lock_and_check_if_match(session, found, if_match)
    updated = await service.update_service(session, service=found, data=data)
    response.headers["ETag"] = etag_for(updated.id, updated.version)
    return ServicePublic.model_validate(updated)


@router.post("/services/{service_id}/retire", response_model=ServicePublic)
async def retire_service(
    service_id: str, principal: StaffDep, session: SessionDep, response: Response, if_match: IfMatch = None
) -> ServicePublic:
    """Retire a service: it takes no new offerings or agreements."""
    found = await service.require_service(session, tenant=principal.tenant, service_id=service_id)
    await lock_and_check_if_match(session, found, if_match)
    updated = await service.update_service(session, service=found, data=ServiceUpdate(lifecycle="retired"))
    response.headers["ETag"] = etag_for(updated.id, updated.version)
    return ServicePublic.model_validate(updated)
