"""Calendar routes, with business-time arithmetic on a calendar."""

from __future__ import annotations

from fastapi import APIRouter, Response, status

from slm_catalog.calendars import service
from slm_catalog.calendars.schemas import (
    BusinessTime,
    BusinessTimeQuery,
    CalendarCreate,
    CalendarFields,
    CalendarPublic,
    Deadline,
    DeadlineQuery,
    to_calendar,
)
from slm_catalog.common import invalid
from slm_shared import calendars
from slm_shared.errors import PROBLEM_RESPONSES
from slm_shared.web.concurrency import (
    IdempotencyDep,
    IfMatch,
    etag_for,
    lock_and_check_if_match,
)
from slm_shared.web.deps import ReaderDep, SessionDep, StaffDep
from slm_shared.web.pagination import Page, PageDep

router = APIRouter(prefix="/v1/calendars", tags=["calendars"], responses=PROBLEM_RESPONSES)


@router.get("", response_model=Page[CalendarPublic])
async def list_calendars(principal: ReaderDep, session: SessionDep, page: PageDep) -> Page[CalendarPublic]:
    """List calendars (the built-in 24x7 included), sorted by key."""
    documents = await service.calendar_documents(session, tenant=principal.tenant)
    items = [service.public(doc) for _key, doc in sorted(documents.items())]
    return Page(
        items=items[page.offset : page.offset + page.limit], total=len(items), limit=page.limit, offset=page.offset
    )


@router.get("/{key}", response_model=CalendarPublic)
async def get_calendar(key: str, principal: ReaderDep, session: SessionDep, response: Response) -> CalendarPublic:
    """Read one calendar."""
    document = await service.require_document(session, tenant=principal.tenant, key=key)
    if document["id"]:
        response.headers["ETag"] = etag_for(document["id"], document["version"])
    return service.public(document)


@router.post("", status_code=status.HTTP_201_CREATED, response_model=CalendarPublic)
async def create_calendar(
    data: CalendarCreate,
    principal: StaffDep,
    session: SessionDep,
    idempotency: IdempotencyDep,
) -> object:
    """Define weekly business hours in a time zone, with explicit and public holidays."""
    if replay := await idempotency.replay():
        return replay
    row = await service.create_calendar(session, tenant=principal.tenant, data=data)
    body = service.public(service.document_of(row))
    await idempotency.remember(body)
    return body


@router.put("/{key}", response_model=CalendarPublic)
async def replace_calendar(
    key: str,
    data: CalendarFields,
    principal: StaffDep,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> CalendarPublic:
    """Replace a calendar's hours and holidays."""
    row = await service.require_row(session, tenant=principal.tenant, key=key)
    await lock_and_check_if_match(session, row, if_match)
    row = await service.replace_calendar(session, row=row, data=data)
    response.headers["ETag"] = etag_for(row.id, row.version)
    return service.public(service.document_of(row))


@router.delete("/{key}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_calendar(key: str, principal: StaffDep, session: SessionDep) -> Response:
    """Remove a calendar no offering uses."""
    row = await service.require_row(session, tenant=principal.tenant, key=key)
    await service.delete_calendar(session, row=row)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/{key}/business-time", response_model=BusinessTime)
async def business_time(key: str, query: BusinessTimeQuery, principal: ReaderDep, session: SessionDep) -> BusinessTime:
    """Count the business time between two instants on this calendar."""
    document = await service.require_document(session, tenant=principal.tenant, key=key)
    seconds = calendars.business_seconds(to_calendar(document), query.start, query.end)
    return BusinessTime(seconds=seconds, hours=round(seconds / 3600, 6))


@router.post("/{key}/deadline", response_model=Deadline)
async def deadline(key: str, query: DeadlineQuery, principal: ReaderDep, session: SessionDep) -> Deadline:
    """The instant at which `seconds` of business time will have elapsed after `start`."""
    document = await service.require_document(session, tenant=principal.tenant, key=key)
    try:
        return Deadline(deadline=calendars.add_business_seconds(to_calendar(document), query.start, query.seconds))
    except ValueError as exc:
        raise invalid("seconds", str(exc)) from exc
