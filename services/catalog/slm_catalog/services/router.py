"""Service routes."""

from __future__ import annotations

from collections.abc import Hashable
from operator import attrgetter

from fastapi import APIRouter, FastAPI, Request, Response, status

from slm_catalog.common import customer_only
from slm_catalog.config import SERVICE_PAGE_BYTES
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
from slm_shared.web.row_bodies import KeptBodies

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
_QUERY_VALUES = attrgetter(*ServiceListQuery.model_fields)  # every field of the validated query, in order


def kept_pages(app: FastAPI) -> KeptBodies[Hashable]:
    """The service list pages this app keeps (`CATALOG_SERVICE_PAGES` of them), made on the first list read."""
    state = app.state
    try:
        pages: KeptBodies[Hashable] = state.service_pages
    except AttributeError:
        pages = state.service_pages = KeptBodies(state.settings.service_pages, SERVICE_PAGE_BYTES)
    return pages


@router.get(
    "/services",
    response_model=Page[ServicePublic],
    responses=NOT_MODIFIED_RESPONSES,
    openapi_extra=LIST_QUERY.openapi(CONDITIONAL_OPENAPI),
)
async def list_services(principal: ReaderDep, request: Request) -> object:
    """List services with filters; customers see live services only.

    The answer carries an `ETag`; send it back in `If-None-Match` to get 304 with no body while the page is the same.

    A page's body is a function of the tenant's services, the validated query and whether the reader sees live
    services only: it is kept (with its ETag) under those and the tenant's catalogue generation, which database
    triggers change on every write of the services table, from any process or statement. A read first reads that
    generation (one small statement) and answers the body kept under it, if any; else it reads the page and keeps
    it under the generation read *before* the page, so a write committed in between leaves a body newer than its
    key, never older: a later read of the same generation answers that newer page (it read no later than the
    write), and a read of the new generation finds nothing kept under it and builds the page again.
    """
    query = LIST_QUERY.parse(request)  # the parameters in `openapi_extra`, validated in one call
    live_only = customer_only(principal)
    if live_only and query.lifecycle not in (None, "live"):  # customers see live services only: none of these
        return conditional_json(request, service_page_json([], total=0, limit=query.limit, offset=query.offset))
    reads: Reader = request.app.state.db.reader  # not a dependency: one level less to resolve per request
    pages = kept_pages(request.app)
    key: Hashable = None
    if pages.size:
        generation = await repository.catalogue_generation(reads, tenant=principal.tenant)
        if generation is not None:  # none: the tenant never had a service, nothing worth keeping
            key = (principal.tenant, generation, live_only, _QUERY_VALUES(query))
            if (kept := pages.get(key)) is not None:
                return conditional_json(request, *kept)
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
    if key is None:
        return conditional_json(request, body)
    return conditional_json(request, *pages.keep(key, body))


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
