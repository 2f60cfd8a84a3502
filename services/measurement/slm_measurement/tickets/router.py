"""Ticket HTTP API: lifecycle events in, clocks and tickets at risk or breached out."""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Request, status
from pydantic import TypeAdapter, ValidationError

from slm_measurement.tickets import repository, service
from slm_measurement.tickets.models import Ticket
from slm_measurement.tickets.schemas import ClockPublic, TicketEventIn, TicketEventsAccepted, TicketPublic
from slm_measurement.tickets.worker import rules_of
from slm_shared.db import utcnow
from slm_shared.errors import (
    BRACKETS_FIELD_NAMES,
    PROBLEM_RESPONSES,
    BadRequest,
    FieldError,
    NotFound,
    ProblemError,
    Unprocessable,
    field_path,
    nested_too_deeply,
)
from slm_shared.web.concurrency import IdempotencyDep
from slm_shared.web.deps import IngestDep, ReaderDep, SessionDep
from slm_shared.web.json_guard import unencodable_field
from slm_shared.web.pagination import Page, PageDep

router = APIRouter(prefix="/v1/tickets", tags=["tickets"], responses=PROBLEM_RESPONSES)
MAX_EVENTS = 5000
EVENTS_ADAPTER = TypeAdapter(list[TicketEventIn])


def decode_events(body: bytes) -> list[TicketEventIn]:
    """A JSON array of ticket events, or 422 naming each bad field."""
    try:
        events = EVENTS_ADAPTER.validate_json(body)
    except ValidationError as exc:
        first = exc.errors()[0]
        if first["type"] == "json_invalid":
            raise _not_json(body, first) from exc
        errors = [
            FieldError(field=field_path(e["loc"], brackets=True), message=e["msg"], type=e["type"])
            for e in exc.errors()[:50]
        ]
        raise Unprocessable("The ticket events were refused, nothing was stored", errors=errors) from exc
    if len(events) > MAX_EVENTS:
        raise Unprocessable(
            f"At most {MAX_EVENTS} events per request",
            errors=[FieldError(field="body", message="too many events", type="too_long")],
        )
    return events


def _not_json(body: bytes, error: Any) -> ProblemError:
    """What pydantic's parser refused as a whole, as every route answers it: too deep for it (it stops at 200
    levels), a 422 naming `body` as nested too deeply; a lone surrogate or bytes that are not UTF-8, a 422 naming
    their field where it can be named; otherwise not JSON, a 400 naming `body`."""
    if "recursion limit exceeded" in error["msg"]:
        return Unprocessable("The ticket events were refused, nothing was stored", errors=[nested_too_deeply()])
    if unencodable := unencodable_field(body):
        return Unprocessable("The ticket events were refused, nothing was stored", errors=[unencodable])
    return BadRequest(
        f"The body is not valid JSON: {error['msg']}",
        errors=[FieldError(field="body", message=error["msg"], type="json_invalid")],
    )


@router.post(
    "/events",
    status_code=status.HTTP_202_ACCEPTED,
    response_model=TicketEventsAccepted,
    openapi_extra={**BRACKETS_FIELD_NAMES,
        "requestBody": {"required": True, "content": {"application/json": {"schema": {
        "type": "array", "items": TicketEventIn.model_json_schema(ref_template="#/components/schemas/{model}")}}}}},
)  # fmt: skip
async def ingest_ticket_events(
    principal: IngestDep, session: SessionDep, idempotency: IdempotencyDep, request: Request
) -> object:
    """Apply a JSON array of ticket lifecycle events, all or nothing; an event id is applied once."""
    if replay := await idempotency.replay():
        return replay
    events = decode_events(await request.body())
    rules = rules_of(request.app.state.settings)
    accepted, duplicates, tickets = await service.ingest_events(
        session, tenant=principal.tenant, batch=events, rules=rules
    )
    body = TicketEventsAccepted(accepted=accepted, duplicates=duplicates, tickets=tickets)
    await idempotency.remember(body, status_code=202)
    return body


@router.get("", response_model=Page[TicketPublic])
async def list_tickets(
    principal: ReaderDep,
    session: SessionDep,
    request: Request,
    page: PageDep,
    sla: Annotated[Literal["at_risk", "breached", "any"], Query(description="at_risk, breached, or any")] = "any",
    agreement_id: Annotated[str | None, Query(max_length=64)] = None,
    service_key: Annotated[str | None, Query(alias="service", max_length=64)] = None,
) -> Page[TicketPublic]:
    """List tickets (those at risk or breached with `sla=`), soonest breach first."""
    rows, total = await repository.list_tickets(
        session,
        principal,
        sla=sla,
        agreement_id=agreement_id,
        service_key=service_key,
        limit=page.limit,
        offset=page.offset,
    )
    rules = rules_of(request.app.state.settings)
    items = [await _public(session, ticket, rules) for ticket in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/{ticket_id}", response_model=TicketPublic)
async def get_ticket(ticket_id: str, principal: ReaderDep, session: SessionDep, request: Request) -> TicketPublic:
    """Read a ticket's response and resolution clocks now: elapsed, remaining, paused, breach instant."""
    ticket = await repository.get_ticket(session, principal, ticket_id)
    if ticket is None:
        raise NotFound(f"No ticket {ticket_id}")
    return await _public(session, ticket, rules_of(request.app.state.settings))


async def _public(session: SessionDep, ticket: Ticket, rules: service.TicketRules) -> TicketPublic:
    now = utcnow()
    found = await service.compute(session, ticket, now=now, rules=rules)
    return TicketPublic(
        id=ticket.id,
        ticket_id=ticket.ticket_id,
        service_key=ticket.service_key,
        agreement_id=ticket.agreement_id,
        consumer_party_id=ticket.consumer_party_id,
        priority=found.lifecycle.priority,
        state=found.lifecycle.state,
        opened_at=found.lifecycle.opened_at,
        at_risk=ticket.at_risk,
        breached=ticket.breached,
        as_of=now,
        clocks={
            name: ClockPublic.model_validate(service.clock_document(found, name, now))
            for name in ("response", "resolution")
        },
    )
