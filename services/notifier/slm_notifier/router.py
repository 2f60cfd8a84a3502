"""Notifier HTTP API: subscriptions and the delivery log."""

from __future__ import annotations

import json
from typing import cast

from fastapi import APIRouter, Request, Response, status
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from slm_notifier import repository, service
from slm_notifier.config import Settings
from slm_notifier.models import Subscription
from slm_notifier.redaction import REDACTED
from slm_notifier.schemas import (
    DeliveryDetail,
    DeliveryPublic,
    DeliveryStatus,
    SubscriptionCreate,
    SubscriptionPublic,
    SubscriptionUpdate,
    SubscriptionWithSecret,
)
from slm_notifier.targets import check_registration
from slm_shared.errors import PROBLEM_RESPONSES, NotFound
from slm_shared.web.concurrency import (
    IdempotencyDep,
    IfMatch,
    etag_for,
    lock_and_check_if_match,
)
from slm_shared.web.deps import SessionDep, StaffDep
from slm_shared.web.pagination import Page, PageDep

router = APIRouter(prefix="/v1", tags=["notifier"], responses=PROBLEM_RESPONSES)


def _with_etag(response: Response, subscription: Subscription) -> None:
    response.headers["ETag"] = etag_for(subscription.id, subscription.version)


@router.post("/subscriptions", status_code=status.HTTP_201_CREATED, response_model=SubscriptionWithSecret)
async def create_subscription(
    data: SubscriptionCreate,
    principal: StaffDep,
    session: SessionDep,
    idempotency: IdempotencyDep,
    response: Response,
    request: Request,
) -> object:
    """Subscribe a target to event types; the signing secret is shown only in this response."""
    if replay := await idempotency.replay():
        return await _with_stored_secret(session, principal.tenant, replay)
    check_registration(data.target, allow_private=cast(Settings, request.app.state.settings).private_targets_allowed)
    created = await service.create_subscription(session, tenant=principal.tenant, data=data)
    body = SubscriptionWithSecret.model_validate(created)
    _with_etag(response, created)
    response.headers["Location"] = f"/v1/subscriptions/{created.id}"
    await idempotency.remember(body.model_copy(update={"secret": REDACTED}))  # kept answers hold no secret
    return body


async def _with_stored_secret(session: AsyncSession, tenant: str, replay: JSONResponse) -> JSONResponse:
    """A replayed creation answer with the subscription's signing secret read back from its encrypted row."""
    body = json.loads(bytes(replay.body))
    found = await repository.get_subscription(session, tenant=tenant, subscription_id=str(body.get("id")))
    if found is not None:
        body["secret"] = found.secret
    headers = {k: v for k, v in replay.headers.items() if k.lower() not in ("content-length", "content-type")}
    return JSONResponse(body, status_code=replay.status_code, headers=headers)


@router.get("/subscriptions", response_model=Page[SubscriptionPublic])
async def list_subscriptions(principal: StaffDep, session: SessionDep, page: PageDep) -> Page[SubscriptionPublic]:
    """List subscriptions, oldest first; secrets are never listed."""
    rows, total = await repository.list_subscriptions(
        session, tenant=principal.tenant, limit=page.limit, offset=page.offset
    )
    items = [SubscriptionPublic.model_validate(row) for row in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/subscriptions/{subscription_id}", response_model=SubscriptionPublic)
async def get_subscription(
    subscription_id: str, principal: StaffDep, session: SessionDep, response: Response
) -> SubscriptionPublic:
    """Read one subscription (without its secret)."""
    found = await service.require_subscription(session, tenant=principal.tenant, subscription_id=subscription_id)
    _with_etag(response, found)
    return SubscriptionPublic.model_validate(found)


@router.patch("/subscriptions/{subscription_id}", response_model=SubscriptionPublic)
async def update_subscription(
    subscription_id: str,
    data: SubscriptionUpdate,
    principal: StaffDep,
    session: SessionDep,
    response: Response,
    request: Request,
    if_match: IfMatch = None,
) -> SubscriptionPublic:
    """Change a subscription; send If-Match with the ETag you read to avoid lost updates."""
    check_registration(data.target, allow_private=cast(Settings, request.app.state.settings).private_targets_allowed)
    found = await service.require_subscription(session, tenant=principal.tenant, subscription_id=subscription_id)
    await lock_and_check_if_match(session, found, if_match)
    updated = await service.update_subscription(session, subscription=found, data=data)
    _with_etag(response, updated)
    return SubscriptionPublic.model_validate(updated)


@router.delete("/subscriptions/{subscription_id}", status_code=status.HTTP_204_NO_CONTENT)
async def delete_subscription(
    subscription_id: str, principal: StaffDep, session: SessionDep, if_match: IfMatch = None
) -> Response:
    """Delete a subscription; its delivery log is kept and its pending deliveries end as failed."""
    found = await service.require_subscription(session, tenant=principal.tenant, subscription_id=subscription_id)
    await lock_and_check_if_match(session, found, if_match)
    await service.delete_subscription(session, subscription=found)
    return Response(status_code=status.HTTP_204_NO_CONTENT)


@router.post("/subscriptions/{subscription_id}/rotate-secret", response_model=SubscriptionWithSecret)
async def rotate_secret(
    subscription_id: str, principal: StaffDep, session: SessionDep, request: Request, response: Response
) -> SubscriptionWithSecret:
    """Issue a new signing secret (shown once); the old one keeps signing during the grace period."""
    settings = cast(Settings, request.app.state.settings)
    found = await service.require_subscription(session, tenant=principal.tenant, subscription_id=subscription_id)
    rotated = await service.rotate_secret(
        session, subscription=found, grace_seconds=settings.secret_rotation_grace_seconds
    )
    _with_etag(response, rotated)
    return SubscriptionWithSecret.model_validate(rotated)


@router.post(
    "/subscriptions/{subscription_id}/test", status_code=status.HTTP_202_ACCEPTED, response_model=DeliveryPublic
)
async def test_subscription(subscription_id: str, principal: StaffDep, session: SessionDep) -> DeliveryPublic:
    """Queue a test delivery to the subscription's target."""
    found = await service.require_subscription(session, tenant=principal.tenant, subscription_id=subscription_id)
    return DeliveryPublic.model_validate(await service.queue_test(session, subscription=found))


@router.get("/deliveries", response_model=Page[DeliveryPublic])
async def list_deliveries(
    principal: StaffDep,
    session: SessionDep,
    page: PageDep,
    subscription_id: str | None = None,
    status: DeliveryStatus | None = None,
    event_type: str | None = None,
) -> Page[DeliveryPublic]:
    """List deliveries, newest first, filtered by subscription, status or event type."""
    rows, total = await repository.list_deliveries(
        session,
        tenant=principal.tenant,
        limit=page.limit,
        offset=page.offset,
        subscription_id=subscription_id,
        status=status,
        event_type=event_type,
    )
    items = [DeliveryPublic.model_validate(row) for row in rows]
    return Page(items=items, total=total, limit=page.limit, offset=page.offset)


@router.get("/deliveries/{delivery_id}", response_model=DeliveryDetail)
async def get_delivery(delivery_id: str, principal: StaffDep, session: SessionDep) -> DeliveryDetail:
    """Read one delivery with its payload and every attempt."""
    found = await repository.get_delivery(session, tenant=principal.tenant, delivery_id=delivery_id)
    if found is None:
        raise NotFound(f"No delivery {delivery_id}")
    attempts = await repository.list_attempts(session, delivery_id=found.id, up_to=found.attempt_count)
    return DeliveryDetail.model_validate({**found.model_dump(), "attempts": [a.model_dump() for a in attempts]})


@router.post("/deliveries/{delivery_id}/replay", response_model=DeliveryPublic)
async def replay_delivery(delivery_id: str, principal: StaffDep, session: SessionDep) -> DeliveryPublic:
    """Queue a dead or failed delivery again, with the same webhook-id."""
    found = await repository.get_delivery(session, tenant=principal.tenant, delivery_id=delivery_id)
    if found is None:
        raise NotFound(f"No delivery {delivery_id}")
    return DeliveryPublic.model_validate(await service.replay_delivery(session, delivery=found))
