"""Notifications API: list, read and acknowledge (with a token, or through a signed link)."""

from __future__ import annotations

import html
import time
from typing import Annotated, cast

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse
from sqlalchemy.ext.asyncio import AsyncSession

from slm_notifier.config import Settings
from slm_notifier.escalation import repository, service
from slm_notifier.escalation.links import link_is_valid
from slm_notifier.models import Notification
from slm_notifier.schemas import NotificationPublic, NotificationState
from slm_shared.auth import Principal
from slm_shared.errors import PROBLEM_RESPONSES, Forbidden, NotFound
from slm_shared.web.deps import ReaderDep, SessionDep
from slm_shared.web.pagination import Page, PageDep

router = APIRouter(prefix="/v1/notifications", tags=["notifications"], responses=PROBLEM_RESPONSES)
Expires = Annotated[int, Query(ge=0, le=2**40, description="Unix seconds after which the link no longer works")]
Signature = Annotated[str, Query(min_length=64, max_length=64, pattern="^[0-9a-f]+$")]


async def _visible(session: AsyncSession, principal: Principal, notification_id: str) -> Notification:
    found = await repository.get_notification(session, notification_id=notification_id, tenant=principal.tenant)
    if found is None or (principal.is_customer_only and found.consumer_party_id != principal.party):
        raise NotFound(f"No notification {notification_id}")
    return found


@router.get("", response_model=Page[NotificationPublic])
async def list_notifications(
    principal: ReaderDep,
    session: SessionDep,
    page: PageDep,
    state: NotificationState | None = None,
    agreement_id: Annotated[str | None, Query(max_length=64)] = None,
) -> Page[NotificationPublic]:
    """List breach notifications, newest first; a customer sees only its own party's."""
    rows, total = await repository.list_notifications(
        session,
        tenant=principal.tenant,
        limit=page.limit,
        offset=page.offset,
        state=state,
        agreement_id=agreement_id,
        consumer_party_id=principal.party if principal.is_customer_only else None,
    )
    items = [NotificationPublic.model_validate(row) for row in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/{notification_id}", response_model=NotificationPublic)
async def get_notification(notification_id: str, principal: ReaderDep, session: SessionDep) -> NotificationPublic:
    """Read one notification: its level, state and when it escalates next."""
    return NotificationPublic.model_validate(await _visible(session, principal, notification_id))


@router.post("/{notification_id}/acknowledge", response_model=NotificationPublic)
async def acknowledge(notification_id: str, principal: ReaderDep, session: SessionDep) -> NotificationPublic:
    """Acknowledge a notification so it escalates no further (an overdue action is still reminded until done)."""
    found = await _visible(session, principal, notification_id)
    done = await service.acknowledge(session, notification=found, by=principal.subject)
    return NotificationPublic.model_validate(done)


async def _signed(
    session: AsyncSession, request: Request, notification_id: str, expires: int, signature: str
) -> Notification:
    settings = cast(Settings, request.app.state.settings)
    if not link_is_valid(
        settings.ack_signing_key, notification_id, expires=expires, signature=signature, now=time.time()
    ):
        raise Forbidden("The acknowledge link is not valid or has expired")
    found = await repository.get_notification(session, notification_id=notification_id, tenant=None)
    if found is None:
        raise NotFound(f"No notification {notification_id}")
    return found


def _page(title: str, body: str) -> HTMLResponse:
    return HTMLResponse(
        f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title></head>"
        f"<body style='font-family: sans-serif'><h2>{html.escape(title)}</h2>{body}</body></html>"
    )


@router.get("/{notification_id}/acknowledge/signed", response_class=HTMLResponse)
async def confirm_signed(
    notification_id: str, request: Request, session: SessionDep, expires: Expires, signature: Signature
) -> HTMLResponse:
    """The page a signed link opens: a button to acknowledge (link scanners that only GET change nothing)."""
    found = await _signed(session, request, notification_id, expires, signature)
    if found.state != "open":
        return _page("Nothing to acknowledge", f"<p>This notification is {html.escape(found.state)}.</p>")
    action = html.escape(str(request.url))
    if found.action_id is not None:
        return _page(
            "Acknowledge this overdue action?",
            f"<p>Level {found.level}; acknowledging stops the escalation to the next level. Reminders go on until "
            "the action is done or cancelled.</p>"
            f"<form method='post' action='{action}'><button type='submit'>Acknowledge</button></form>",
        )
    return _page(
        "Acknowledge this breach?",
        f"<p>Level {found.level}; acknowledging stops the escalation.</p>"
        f"<form method='post' action='{action}'><button type='submit'>Acknowledge</button></form>",
    )


@router.post("/{notification_id}/acknowledge/signed", response_class=HTMLResponse)
async def acknowledge_signed(
    notification_id: str, request: Request, session: SessionDep, expires: Expires, signature: Signature
) -> HTMLResponse:
    """Acknowledge through the signed link in a message; no token needed, the signature is the proof."""
    found = await _signed(session, request, notification_id, expires, signature)
    await service.acknowledge(session, notification=found, by="signed-link")
    return _page("Acknowledged", "<p>Thank you: the escalation is stopped.</p>")
