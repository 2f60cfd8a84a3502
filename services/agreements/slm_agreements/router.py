"""Agreements HTTP API: parties, agreements, their audit trail, and agreements started from a requirement."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response, status

from slm_agreements import catalog, in_force, repository, service
from slm_agreements.catalog import repository as catalog_repository
from slm_agreements.deps import CatalogDep
from slm_agreements.lifecycle import Kind, PartyKind, State
from slm_agreements.requirements import service as requirements
from slm_agreements.requirements.schemas import RequirementAgreementCreate
from slm_agreements.schemas import (
    AgreementCreate,
    AgreementPublic,
    AgreementSummary,
    HistoryEntry,
    PartyCreate,
    PartyPublic,
    PartyUpdate,
)
from slm_shared.contracts.targets import Target
from slm_shared.db import utcnow
from slm_shared.errors import PROBLEM_RESPONSES
from slm_shared.web.concurrency import IdempotencyDep, IfMatch, etag_for, lock_and_check_if_match
from slm_shared.web.deps import ReaderDep, SessionDep, StaffDep
from slm_shared.web.pagination import Page, PageDep

router = APIRouter(prefix="/v1", responses=PROBLEM_RESPONSES)


@router.post("/parties", status_code=status.HTTP_201_CREATED, response_model=PartyPublic, tags=["parties"])
async def create_party(
    data: PartyCreate,
    principal: StaffDep,
    session: SessionDep,
    idempotency: IdempotencyDep,
    response: Response,
) -> object:
    """Register a customer, internal team or supplier with its contacts."""
    if replay := await idempotency.replay():
        return replay
    party = await service.create_party(session, tenant=principal.tenant, data=data)
    body = PartyPublic.model_validate(party)
    response.headers["Location"] = f"/v1/parties/{party.id}"
    await idempotency.remember(body)
    return body


@router.get("/parties", response_model=Page[PartyPublic], tags=["parties"])
async def list_parties(
    principal: ReaderDep, session: SessionDep, page: PageDep, kind: PartyKind | None = None
) -> Page[PartyPublic]:
    """List parties by name; a customer sees only its own."""
    rows, total = await repository.list_parties(
        session,
        tenant=principal.tenant,
        limit=page.limit,
        offset=page.offset,
        kind=kind,
        only_id=principal.party if principal.is_customer_only else None,
    )
    return Page(items=[PartyPublic.model_validate(r) for r in rows], total=total, limit=page.limit, offset=page.offset)


@router.get("/parties/{party_id}", response_model=PartyPublic, tags=["parties"])
async def get_party(party_id: str, principal: ReaderDep, session: SessionDep, response: Response) -> PartyPublic:
    """Read one party."""
    party = await service.require_party(session, principal=principal, party_id=party_id)
    response.headers["ETag"] = etag_for(party.id, party.version)
    return PartyPublic.model_validate(party)


@router.patch("/parties/{party_id}", response_model=PartyPublic, tags=["parties"])
async def update_party(
    party_id: str,
    data: PartyUpdate,
    principal: StaffDep,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> PartyPublic:
    """Change a party's name, contacts or escalation time; send If-Match with the ETag you read."""
    party = await service.require_party(session, principal=principal, party_id=party_id)
    await lock_and_check_if_match(session, party, if_match)
    updated = await service.update_party(session, party=party, data=data)
    response.headers["ETag"] = etag_for(updated.id, updated.version)
    return PartyPublic.model_validate(updated)


@router.post("/agreements", status_code=status.HTTP_201_CREATED, response_model=AgreementPublic, tags=["agreements"])
async def create_agreement(
    data: AgreementCreate,
    principal: StaffDep,
    session: SessionDep,
    idempotency: IdempotencyDep,
    request: Request,
    response: Response,
    catalog_client: CatalogDep,
) -> object:
    """Draft an agreement on a published offering; its targets become the objectives, overrides on top."""
    # Before the request's transaction starts: a catalog call must not hold a database lock.
    await catalog.ensure_offering(
        request.app.state.db, catalog_client, tenant=principal.tenant, offering_id=data.offering_id
    )
    if replay := await idempotency.replay():
        return replay
    agreement = await service.create_agreement(session, principal=principal, data=data)
    body = await service.describe(session, agreement)
    headers = {"ETag": etag_for(agreement.id, agreement.revision), "Location": f"/v1/agreements/{agreement.id}"}
    response.headers.update(headers)
    await idempotency.remember(body, headers=headers)
    return body


@router.get("/agreements", response_model=Page[AgreementSummary], tags=["agreements"])
async def list_agreements(
    principal: ReaderDep,
    session: SessionDep,
    page: PageDep,
    state: State | None = None,
    kind: Kind | None = None,
    consumer_party_id: Annotated[str | None, Query(max_length=64)] = None,
    service_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[AgreementSummary]:
    """List agreements, newest first; a customer sees only those it is the consumer of."""
    if principal.is_customer_only:
        if consumer_party_id not in (None, principal.party):
            return Page(items=[], total=0, limit=page.limit, offset=page.offset)
        consumer_party_id = principal.party
    rows, total = await repository.list_agreements(
        session,
        tenant=principal.tenant,
        limit=page.limit,
        offset=page.offset,
        state=state,
        kind=kind,
        consumer_party_id=consumer_party_id,
        service_id=service_id,
        hide_drafts=principal.is_customer_only,
    )
    current = await in_force.current_versions(session, rows, utcnow())
    items = [
        AgreementSummary.model_validate(r).model_copy(update={"in_force_version": current.get(r.id)}) for r in rows
    ]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/agreements/{agreement_id}", response_model=AgreementPublic, tags=["agreements"])
async def get_agreement(
    agreement_id: str, principal: ReaderDep, session: SessionDep, response: Response
) -> AgreementPublic:
    """Read an agreement with its objectives, state, version and acceptances; the ETag guards transitions."""
    agreement = await service.require_agreement(session, principal=principal, agreement_id=agreement_id)
    response.headers["ETag"] = etag_for(agreement.id, agreement.revision)
    return await service.describe(session, agreement, principal=principal)


@router.get("/agreements/{agreement_id}/history", response_model=Page[HistoryEntry], tags=["agreements"])
async def agreement_history(
    agreement_id: str, principal: ReaderDep, session: SessionDep, page: PageDep
) -> Page[HistoryEntry]:
    """The audit trail of an agreement, oldest first: action, states, actor, time and comment."""
    await service.require_agreement(session, principal=principal, agreement_id=agreement_id)
    rows, total = await repository.history_of(
        session, tenant=principal.tenant, agreement_id=agreement_id, limit=page.limit, offset=page.offset
    )
    return Page(items=[HistoryEntry.model_validate(r) for r in rows], total=total, limit=page.limit, offset=page.offset)


@router.post(
    "/agreements/from-requirement",
    status_code=status.HTTP_201_CREATED,
    response_model=AgreementPublic,
    tags=["agreements"],
)
async def create_agreement_from_requirement(
    data: RequirementAgreementCreate,
    principal: StaffDep,
    session: SessionDep,
    request: Request,
    response: Response,
    catalog_client: CatalogDep,
) -> AgreementPublic:
    """Draft an agreement from a requirement: catalogue matching picks the tier, the rest is customer-specific."""
    result, basis = await requirements.match(catalog_client, data)
    db = request.app.state.db
    await catalog.ensure_offering(db, catalog_client, tenant=principal.tenant, offering_id=basis.tier.offering_id)
    offering = await catalog_repository.get_catalog_offering(
        session, tenant=principal.tenant, offering_id=basis.tier.offering_id
    )
    targets = [Target.model_validate(t) for t in offering.targets] if offering else []
    create, record = requirements.agreement_request(data, result, basis, targets)
    agreement = await service.create_agreement(session, principal=principal, data=create, requirement=record)
    response.headers.update(
        {"ETag": etag_for(agreement.id, agreement.revision), "Location": f"/v1/agreements/{agreement.id}"}
    )
    return await service.describe(session, agreement)
