"""Lifecycle and negotiation routes: edit, propose, counter, accept, activate, amend, withdraw, terminate; versions
and diffs."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query, Request, Response
from pydantic import AwareDatetime
from sqlalchemy.ext.asyncio import AsyncSession

from slm_agreements import catalog, in_force, repository, service
from slm_agreements.activation import service as activation
from slm_agreements.catalog import CatalogClient
from slm_agreements.deps import CatalogDep
from slm_agreements.models import Agreement
from slm_agreements.negotiation import service as negotiation
from slm_agreements.negotiation import terms
from slm_agreements.schemas import (
    ActivateRequest,
    AgreementPublic,
    Change,
    CounterRequest,
    ProposalRequest,
    TermsChange,
    TransitionRequest,
    VersionDiff,
    VersionPublic,
    VersionSummary,
)
from slm_shared.auth import Principal
from slm_shared.errors import PROBLEM_RESPONSES, NotFound, Unprocessable
from slm_shared.web.bounds import MAX_PATH_INT, PathInt
from slm_shared.web.concurrency import IfMatch, check_if_match, etag_for
from slm_shared.web.deps import ReaderDep, SessionDep, StaffDep
from slm_shared.web.pagination import Page, PageDep

router = APIRouter(prefix="/v1/agreements/{agreement_id}", responses=PROBLEM_RESPONSES)


async def _locked(session: AsyncSession, principal: Principal, agreement_id: str, if_match: str | None) -> Agreement:
    agreement = await service.require_agreement(
        session, principal=principal, agreement_id=agreement_id, for_update=True
    )
    check_if_match(if_match, etag_for(agreement.id, agreement.revision))
    return agreement


async def _answer(
    session: AsyncSession, agreement: Agreement, principal: Principal, response: Response
) -> AgreementPublic:
    response.headers["ETag"] = etag_for(agreement.id, agreement.revision)
    return await service.describe(session, agreement, principal=principal)


async def _offering_known(
    request: Request, catalog_client: CatalogClient, principal: Principal, changes: TermsChange | None
) -> None:
    """Before the request's transaction takes locks: the offering a change moves onto, in the read model."""
    if changes is None or changes.offering_id is None:
        return
    try:
        await catalog.ensure_offering(
            request.app.state.db, catalog_client, tenant=principal.tenant, offering_id=changes.offering_id
        )
    except Unprocessable as exc:
        for error in exc.errors:
            error.field = f"changes.{error.field}"
        raise


@router.patch("", response_model=AgreementPublic, tags=["negotiation"])
async def edit_draft(
    agreement_id: str,
    changes: TermsChange,
    principal: StaffDep,
    session: SessionDep,
    response: Response,
    request: Request,
    catalog_client: CatalogDep,
    if_match: IfMatch = None,
) -> AgreementPublic:
    """Change the terms of a draft (staff); proposed versions are immutable."""
    await _offering_known(request, catalog_client, principal, changes)
    agreement = await _locked(session, principal, agreement_id, if_match)
    agreement = await negotiation.edit_draft(session, principal=principal, agreement=agreement, changes=changes)
    return await _answer(session, agreement, principal, response)


@router.post("/propose", response_model=AgreementPublic, tags=["negotiation"])
async def propose_agreement(
    agreement_id: str,
    principal: ReaderDep,
    session: SessionDep,
    response: Response,
    data: ProposalRequest | None = None,
    if_match: IfMatch = None,
) -> AgreementPublic:
    """Put terms on the table: staff propose a draft; either side answers a counter-proposal with a proposal."""
    agreement = await _locked(session, principal, agreement_id, if_match)
    data = data or ProposalRequest()
    agreement = await negotiation.propose(
        session, principal=principal, agreement=agreement, changes=data.changes, comment=data.comment
    )
    return await _answer(session, agreement, principal, response)


@router.post("/counter", response_model=AgreementPublic, tags=["negotiation"])
async def counter_agreement(
    agreement_id: str,
    data: CounterRequest,
    principal: ReaderDep,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> AgreementPublic:
    """Answer the terms on the table with a counter-proposal (either side): a new immutable version."""
    agreement = await _locked(session, principal, agreement_id, if_match)
    agreement = await negotiation.counter(
        session, principal=principal, agreement=agreement, changes=data.changes, comment=data.comment
    )
    return await _answer(session, agreement, principal, response)


@router.post("/accept", response_model=AgreementPublic, tags=["negotiation"])
async def accept_agreement(
    agreement_id: str,
    principal: ReaderDep,
    session: SessionDep,
    response: Response,
    data: TransitionRequest | None = None,
    if_match: IfMatch = None,
) -> AgreementPublic:
    """Accept the terms on the table: staff for the provider (and internal parties), a customer for its own party."""
    agreement = await _locked(session, principal, agreement_id, if_match)
    agreement = await negotiation.accept(
        session, principal=principal, agreement=agreement, comment=data.comment if data else None
    )
    return await _answer(session, agreement, principal, response)


@router.post("/activate", response_model=AgreementPublic, tags=["lifecycle"])
async def activate_agreement(
    agreement_id: str,
    principal: ReaderDep,
    session: SessionDep,
    request: Request,
    response: Response,
    catalog_client: CatalogDep,
    data: ActivateRequest | None = None,
    if_match: IfMatch = None,
) -> AgreementPublic:
    """Put an agreed version in force (staff) if every rule holds; a refusal lists every gap."""
    facts = await activation.gather_facts(
        request.app.state.db, catalog_client, principal=principal, agreement_id=agreement_id
    )
    agreement = await _locked(session, principal, agreement_id, if_match)
    data = data or ActivateRequest()
    agreement = await activation.activate(
        session, principal=principal, agreement=agreement, facts=facts, override=data.override, comment=data.comment
    )
    return await _answer(session, agreement, principal, response)


@router.post("/amend", response_model=AgreementPublic, tags=["lifecycle"])
async def amend_agreement(
    agreement_id: str,
    principal: StaffDep,
    session: SessionDep,
    response: Response,
    request: Request,
    catalog_client: CatalogDep,
    data: ProposalRequest | None = None,
    if_match: IfMatch = None,
) -> AgreementPublic:
    """Open a new draft version of an active agreement (staff); the one in force stays until it is superseded.

    `changes.offering_id` moves the new version onto another published offering of the service (its next
    version, say): its targets, with their alert policy and maintenance windows, become the standard objectives."""
    data = data or ProposalRequest()
    await _offering_known(request, catalog_client, principal, data.changes)
    agreement = await _locked(session, principal, agreement_id, if_match)
    agreement = await negotiation.amend(
        session, principal=principal, agreement=agreement, changes=data.changes, comment=data.comment
    )
    return await _answer(session, agreement, principal, response)


@router.post("/withdraw", response_model=AgreementPublic, tags=["lifecycle"])
async def withdraw_amendment(
    agreement_id: str,
    principal: StaffDep,
    session: SessionDep,
    response: Response,
    data: TransitionRequest | None = None,
    if_match: IfMatch = None,
) -> AgreementPublic:
    """Withdraw an amendment not yet activated (staff): drafted, proposed, countered or agreed; the version in force
    stays, with its terms and offering, and the withdrawn version can never be activated."""
    agreement = await _locked(session, principal, agreement_id, if_match)
    agreement = await negotiation.withdraw(
        session, principal=principal, agreement=agreement, comment=data.comment if data else None
    )
    return await _answer(session, agreement, principal, response)


@router.post("/terminate", response_model=AgreementPublic, tags=["lifecycle"])
async def terminate_agreement(
    agreement_id: str,
    principal: ReaderDep,
    session: SessionDep,
    response: Response,
    data: TransitionRequest | None = None,
    if_match: IfMatch = None,
) -> AgreementPublic:
    """End a proposed, countered, agreed or active agreement (staff); ending one in force emits agreement.ended."""
    agreement = await _locked(session, principal, agreement_id, if_match)
    actor = service.actor_for(principal)
    agreement = await negotiation.end(
        session, agreement=agreement, action="terminate", actor=actor, comment=data.comment if data else None
    )
    return await _answer(session, agreement, principal, response)


@router.get("/versions", response_model=Page[VersionSummary], tags=["versions"])
async def list_versions(
    agreement_id: str, principal: ReaderDep, session: SessionDep, page: PageDep
) -> Page[VersionSummary]:
    """Every version of the agreement, oldest first (a customer does not see drafts)."""
    agreement = await service.require_agreement(session, principal=principal, agreement_id=agreement_id)
    rows, total = await repository.list_versions(
        session, agreement, limit=page.limit, offset=page.offset, hide_drafts=principal.is_customer_only
    )
    return Page(
        items=[VersionSummary.model_validate(r) for r in rows], total=total, limit=page.limit, offset=page.offset
    )


@router.get("/versions/in-force", response_model=VersionPublic, tags=["versions"])
async def version_in_force(
    agreement_id: str,
    at: Annotated[AwareDatetime, Query(description="the instant asked about")],
    principal: ReaderDep,
    session: SessionDep,
) -> VersionPublic:
    """The version that was in force at instant `at`; 404 when none was."""
    agreement = await service.require_agreement(session, principal=principal, agreement_id=agreement_id)
    version = await in_force.version_at(session, agreement, at)
    if version is None:
        raise NotFound(f"No version of agreement {agreement_id} was in force at {at.isoformat()}")
    return await service.describe_version(session, agreement, version)


async def _version(
    session: AsyncSession, principal: Principal, agreement: Agreement, number: int, field: str
) -> object:
    version = await repository.get_version(session, agreement, number)
    if version is None or (
        principal.is_customer_only and repository.hidden_from_customers(version.status, version.proposed_by)
    ):
        raise NotFound(f"Agreement {agreement.id} has no version {number} ({field})")
    return version


@router.get("/versions/{version}", response_model=VersionPublic, tags=["versions"])
async def get_version(agreement_id: str, version: PathInt, principal: ReaderDep, session: SessionDep) -> VersionPublic:
    """One version with its objectives, terms and acceptances."""
    agreement = await service.require_agreement(session, principal=principal, agreement_id=agreement_id)
    found = await _version(session, principal, agreement, version, "version")
    return await service.describe_version(session, agreement, found)  # type: ignore[arg-type]


@router.get("/diff", response_model=VersionDiff, tags=["versions"])
async def diff_versions(
    agreement_id: str,
    principal: ReaderDep,
    session: SessionDep,
    from_version: Annotated[int, Query(alias="from", ge=1, le=MAX_PATH_INT)],
    to_version: Annotated[int, Query(alias="to", ge=1, le=MAX_PATH_INT)],
) -> VersionDiff:
    """What changed between two versions: objectives, ticket targets, credits, price, maintenance windows, terms."""
    agreement = await service.require_agreement(session, principal=principal, agreement_id=agreement_id)
    before = await _version(session, principal, agreement, from_version, "from")
    after = await _version(session, principal, agreement, to_version, "to")
    changes = await terms.changes_between(session, agreement, before, after)  # type: ignore[arg-type]
    return VersionDiff(
        from_version=from_version, to_version=to_version, changes=[Change.model_validate(c) for c in changes]
    )
