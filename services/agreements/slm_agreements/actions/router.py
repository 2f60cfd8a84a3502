"""Improvement action routes, and requests for change raised from them."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Header, Query, Response, status

from slm_agreements import service
from slm_agreements.actions import service as actions
from slm_agreements.actions.models import ImprovementAction
from slm_agreements.actions.schemas import (
    ActionCreate,
    ActionPublic,
    ActionStatus,
    ActionUpdate,
    ChangeRequestCreate,
    ChangeRequestListed,
    ChangeRequestPublic,
)
from slm_shared.contracts.action_titles import preferred_language, render_description, render_title
from slm_shared.errors import PROBLEM_RESPONSES, NotFound
from slm_shared.web.concurrency import IfMatch, check_if_match, etag_for
from slm_shared.web.deps import ReaderDep, SessionDep, StaffDep
from slm_shared.web.pagination import Page, PageDep

router = APIRouter(prefix="/v1", tags=["improvement actions"], responses=PROBLEM_RESPONSES)
Lang = Annotated[
    str | None,
    Query(max_length=16, description="language of platform-written titles and descriptions: en, pt, es, pl or ru"),
]
AcceptLanguage = Annotated[str | None, Header(max_length=200)]


def _title(action: ImprovementAction, lang: str) -> str:
    return render_title(action.title_key, action.title_params, lang, action.title)


def _public(action: ImprovementAction, lang: str) -> ActionPublic:
    """The action as a reader sees it: a platform-written title and description in the reader's language."""
    description = render_description(action.description_key, action.description_params, lang, action.description)
    return ActionPublic.model_validate(action).model_copy(
        update={"title": _title(action, lang), "description": description}
    )


@router.post("/agreements/{agreement_id}/actions", status_code=status.HTTP_201_CREATED, response_model=ActionPublic)
async def create_action(
    agreement_id: str, data: ActionCreate, principal: StaffDep, session: SessionDep, response: Response
) -> ActionPublic:
    """Record an improvement action (from a review, a breach or by hand); emits action.created."""
    agreement = await service.require_agreement(session, principal=principal, agreement_id=agreement_id)
    action = await actions.create_action(session, agreement=agreement, data=data, created_by=principal.subject)
    response.headers["ETag"] = etag_for(action.id, action.revision)
    return _public(action, "en")


@router.get("/agreements/{agreement_id}/actions", response_model=Page[ActionPublic])
async def list_actions(
    agreement_id: str,
    principal: ReaderDep,
    session: SessionDep,
    page: PageDep,
    status: ActionStatus | None = None,
    lang: Lang = None,
    accept_language: AcceptLanguage = None,
) -> Page[ActionPublic]:
    """The agreement's improvement actions by due date, platform-written titles in the reader's language."""
    language = preferred_language(lang, accept_language)
    agreement = await service.require_agreement(session, principal=principal, agreement_id=agreement_id)
    rows, total = await actions.list_actions(
        session, agreement=agreement, status=status, limit=page.limit, offset=page.offset
    )
    return Page(items=[_public(r, language) for r in rows], total=total, limit=page.limit, offset=page.offset)


@router.get("/actions/{action_id}", response_model=ActionPublic)
async def get_action(
    action_id: str,
    principal: ReaderDep,
    session: SessionDep,
    response: Response,
    lang: Lang = None,
    accept_language: AcceptLanguage = None,
) -> ActionPublic:
    """Read one improvement action: its change request's status and reference, a platform-written title in the
    reader's language."""
    action = await actions.get_action(session, tenant=principal.tenant, action_id=action_id)
    try:
        await service.require_agreement(session, principal=principal, agreement_id=action.agreement_id)
    except NotFound:
        raise NotFound(f"No action {action_id}") from None  # the agreement's id is not the reader's to learn
    response.headers["ETag"] = etag_for(action.id, action.revision)
    return _public(action, preferred_language(lang, accept_language))


@router.patch("/actions/{action_id}", response_model=ActionPublic)
async def update_action(
    action_id: str,
    data: ActionUpdate,
    principal: StaffDep,
    session: SessionDep,
    response: Response,
    if_match: IfMatch = None,
) -> ActionPublic:
    """Change an open action: owner, due date, status (done or cancelled closes it)."""
    action = await actions.get_action(session, tenant=principal.tenant, action_id=action_id, for_update=True)
    check_if_match(if_match, etag_for(action.id, action.revision))
    agreement = await service.require_agreement(session, principal=principal, agreement_id=action.agreement_id)
    action = await actions.update_action(session, agreement=agreement, action=action, data=data)
    response.headers["ETag"] = etag_for(action.id, action.revision)
    return _public(action, "en")


@router.post(
    "/actions/{action_id}/change-request", status_code=status.HTTP_202_ACCEPTED, response_model=ChangeRequestPublic
)
async def request_change(
    action_id: str, data: ChangeRequestCreate, principal: StaffDep, session: SessionDep
) -> ChangeRequestPublic:
    """Raise a request for change from an open action; emits change.requested for an ITSM integration."""
    action = await actions.get_action(session, tenant=principal.tenant, action_id=action_id, for_update=True)
    agreement = await service.require_agreement(session, principal=principal, agreement_id=action.agreement_id)
    return await actions.request_change(
        session, agreement=agreement, action=action, data=data, requested_by=principal.subject
    )


@router.get("/agreements/{agreement_id}/change-requests", response_model=list[ChangeRequestListed])
async def list_change_requests(
    agreement_id: str,
    principal: ReaderDep,
    session: SessionDep,
    lang: Lang = None,
    accept_language: AcceptLanguage = None,
) -> list[ChangeRequestListed]:
    """The requests for change raised from the agreement's actions, with their status and reference as the ITSM
    tool reports them."""
    language = preferred_language(lang, accept_language)
    agreement = await service.require_agreement(session, principal=principal, agreement_id=agreement_id)
    return [
        ChangeRequestListed(
            change_request_id=a.change_request_id or "",
            action_id=a.id,
            action_title=_title(a, language),
            status=a.change_status or "requested",
            requested_at=a.change_requested_at,
            change_ref=a.change_ref,
            system=a.change_system,
            status_at=a.change_status_at,
        )
        for a in await actions.list_change_requests(session, agreement=agreement)
    ]
