"""Notifier domain operations: subscriptions, fan-out of events into deliveries, replays."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import Row
from sqlalchemy.ext.asyncio import AsyncEngine, AsyncSession

from slm_notifier import repository
from slm_notifier.contacts.rules import party_side
from slm_notifier.escalation import repository as escalation_repository
from slm_notifier.matching import TEST_EVENT_TYPE, EventFacts, subscription_matches
from slm_notifier.models import DEAD, FAILED, OPEN, PENDING, Delivery, Subscription, new_id
from slm_notifier.queued import queue_deliveries
from slm_notifier.redaction import keep_stored_secrets, refuse_markers
from slm_notifier.schemas import SubscriptionCreate, SubscriptionUpdate, check_change_requests, validated_target
from slm_notifier.signing import new_secret
from slm_shared.contracts import EVENTS, CloudEvent
from slm_shared.db import utcnow
from slm_shared.errors import Conflict, NotFound

DELIVERIES_QUEUED = "slm_notifier_deliveries_queued"


SUBSCRIPTIONS_READ = "slm_notifier_enabled_subscriptions"


class Preclaimer(Protocol):
    """A delivery worker of this process that takes fresh deliveries as they are written."""

    def preclaim(
        self, session: AsyncSession, rows: list[dict[str, Any]], subscriptions: dict[str, Row[Any]] | None = None
    ) -> None:
        """Claim (in the caller's transaction) the rows it has room for; it sends them once that commits.

        `subscriptions` (by id, as `repository.enabled_subscriptions` reads them): the rows' subscriptions, so the
        deliveries are sent from what is in hand rather than read back."""


_preclaimers: dict[int, Preclaimer] = {}


def _engine_id(session: AsyncSession) -> int:
    bind = session.sync_session.get_bind()
    return id(getattr(bind, "engine", bind))


def register_preclaimer(engine: AsyncEngine, worker: Preclaimer | None) -> None:
    """Let fan-out on this engine hand fresh deliveries to `worker` (None: stop)."""
    if worker is None:
        _preclaimers.pop(id(engine.sync_engine), None)
    else:
        _preclaimers[id(engine.sync_engine)] = worker


async def enabled_subscriptions(session: AsyncSession, tenant: str) -> Sequence[Row[Any]]:
    """The tenant's enabled subscriptions, read once per transaction (a consumer batch fans out many events)."""
    known: dict[str, Sequence[Row[Any]]] = session.info.setdefault(SUBSCRIPTIONS_READ, {})
    if tenant not in known:
        known[tenant] = await repository.enabled_subscriptions(session, tenant=tenant)
    return known[tenant]


def forget_subscriptions(session: AsyncSession) -> None:
    """Drop the subscriptions read in this transaction (one was created, changed or deleted)."""
    session.info.pop(SUBSCRIPTIONS_READ, None)


def mark_queued(session: AsyncSession) -> None:
    """Flag the transaction so the delivery worker wakes once it commits."""
    session.info[DELIVERIES_QUEUED] = True


async def fan_out(
    session: AsyncSession, event: CloudEvent, facts: EventFacts, *, escalation_seconds: int | None = None
) -> int:
    """Create one delivery per enabled subscription of the tenant that wants this event; a breach told
    to party contacts also opens a notification that escalates until acknowledged."""
    now = utcnow()
    rows: list[dict[str, Any]] = []
    notifications: list[dict[str, Any]] = []
    matched: dict[str, Row[Any]] = {}
    for sub in await enabled_subscriptions(session, event.tenant):
        if not subscription_matches(sub.event_types, sub.filters or {}, facts):
            continue
        matched[sub.id] = sub
        row = delivery_row(event, sub.id, now)
        selector = (sub.target or {}).get("contacts") if sub.channel == "email" else None
        owner_party = (
            (event.data or {}).get("owner_party_id") if facts.event_type == EVENTS.action_overdue.type else None
        )
        if selector and (facts.event_type == EVENTS.objective_breached.type or owner_party):
            provider = party_side(selector, facts.event_type) == "provider"
            party_id = owner_party or (facts.provider_party_id if provider else facts.consumer_party_id)
            row["notification_id"] = new_id()
            notifications.append(
                {
                    "id": row["notification_id"],
                    "tenant": event.tenant,
                    "subscription_id": sub.id,
                    "event_id": event.id,
                    "event_type": event.type,
                    "agreement_id": facts.agreement_id,
                    "objective_id": facts.objective_id,
                    "party_id": party_id,
                    "consumer_party_id": facts.consumer_party_id,
                    "level": 1,
                    "escalation_seconds": sub.escalation_seconds or escalation_seconds,
                    "state": OPEN,
                    "action_id": (event.data or {}).get("action_id") if owner_party else None,
                    "created_at": now,
                    "updated_at": now,
                }
            )
        rows.append(row)
    await escalation_repository.insert_notifications(session, notifications)
    worker = _preclaimers.get(_engine_id(session)) if rows else None
    if worker is not None:
        worker.preclaim(session, rows, matched)  # sent as soon as this transaction commits, without another claim
    await queue_deliveries(session, rows)  # with the transaction's other fresh deliveries, in one statement
    if any(row["claim_token"] is None for row in rows):
        mark_queued(session)  # rows the worker had no room for: its next claim round takes them
    return len(rows)


def delivery_row(event: CloudEvent, subscription_id: str, now: datetime) -> dict[str, Any]:
    """A fresh level-1 delivery of an event to a subscription."""
    return {
        "id": new_id(),
        "tenant": event.tenant,
        "subscription_id": subscription_id,
        "event_id": event.id,
        "event_type": event.type,
        "event_time": event.time,
        "payload": event.data,
        "escalation_level": 1,
        "notification_id": None,
        "status": PENDING,
        "attempt_count": 0,
        "round_attempts": 0,
        "next_attempt_at": now,
        "created_at": now,
        "updated_at": now,
        "claimed_until": None,
        "claim_token": None,
    }


async def require_subscription(session: AsyncSession, *, tenant: str, subscription_id: str) -> Subscription:
    found = await repository.get_subscription(session, tenant=tenant, subscription_id=subscription_id)
    if found is None:
        raise NotFound(f"No subscription {subscription_id}")
    return found


async def create_subscription(session: AsyncSession, *, tenant: str, data: SubscriptionCreate) -> Subscription:
    """Add a subscription with a fresh signing secret."""
    refuse_markers(data.channel, data.target)
    check_change_requests(data.channel, data.event_types, data.target)
    forget_subscriptions(session)
    subscription = Subscription(
        tenant=tenant,
        name=data.name,
        event_types=data.event_types,
        channel=data.channel,
        target=validated_target(data.channel, data.target),
        filters=data.filters.model_dump(exclude_none=True),
        language=data.language,
        enabled=data.enabled,
        escalation_seconds=data.escalation_seconds,
        secret=new_secret(),
    )
    session.add(subscription)
    await session.flush()
    return subscription


async def update_subscription(
    session: AsyncSession, *, subscription: Subscription, data: SubscriptionUpdate
) -> Subscription:
    """Apply a partial update; enabling again clears the reason it was disabled."""
    forget_subscriptions(session)
    changes = data.model_dump(exclude_unset=True, mode="json")
    if changes.get("target") is not None:
        target = keep_stored_secrets(subscription.channel, subscription.target, changes["target"])
        changes["target"] = validated_target(subscription.channel, target)
    if changes.get("event_types") is not None or changes.get("target") is not None:
        check_change_requests(
            subscription.channel,
            changes.get("event_types") or subscription.event_types,
            changes.get("target") or subscription.target,
        )
    for name in ("name", "event_types", "target", "language", "enabled"):
        if changes.get(name) is not None:
            setattr(subscription, name, changes[name])
    if "escalation_seconds" in changes:
        subscription.escalation_seconds = changes["escalation_seconds"]
    if "filters" in changes:
        subscription.filters = {k: v for k, v in (changes["filters"] or {}).items() if v is not None}
    if changes.get("enabled"):
        subscription.disabled_reason = None
    subscription.version += 1
    subscription.updated_at = utcnow()
    await session.flush()
    return subscription


async def delete_subscription(session: AsyncSession, *, subscription: Subscription) -> None:
    """Remove a subscription; its pending deliveries end as failed, the log stays."""
    forget_subscriptions(session)
    now = utcnow()
    await escalation_repository.end_escalations(
        session, tenant=subscription.tenant, subscription_id=subscription.id, now=now
    )
    await repository.fail_pending(
        session, tenant=subscription.tenant, subscription_id=subscription.id, reason="subscription deleted", now=now
    )
    await repository.delete_subscription(session, tenant=subscription.tenant, subscription_id=subscription.id)


async def rotate_secret(session: AsyncSession, *, subscription: Subscription, grace_seconds: float) -> Subscription:
    """Issue a new secret; the current one keeps signing beside it for the grace period."""
    now = utcnow()
    if grace_seconds > 0:
        subscription.previous_secret = subscription.secret
        subscription.previous_secret_expires_at = now + timedelta(seconds=grace_seconds)
    else:
        subscription.previous_secret = None
        subscription.previous_secret_expires_at = None
    subscription.secret = new_secret()
    subscription.version += 1
    subscription.updated_at = now
    await session.flush()
    return subscription


async def queue_test(session: AsyncSession, *, subscription: Subscription) -> Delivery:
    """Queue a test delivery to the subscription's target."""
    if not subscription.enabled:
        raise Conflict(f"Subscription {subscription.id} is disabled; enable it before testing")
    now = utcnow()
    delivery = Delivery(
        tenant=subscription.tenant,
        subscription_id=subscription.id,
        event_id=new_id(),
        event_type=TEST_EVENT_TYPE,
        event_time=now,
        payload={"subscription_id": subscription.id, "name": subscription.name, "test": True},
        next_attempt_at=now,
    )
    session.add(delivery)
    await session.flush()
    mark_queued(session)
    return delivery


async def replay_delivery(session: AsyncSession, *, delivery: Delivery) -> Delivery:
    """Queue a dead or failed delivery again, same webhook-id, with a fresh set of attempts."""
    if delivery.status not in (DEAD, FAILED):
        raise Conflict(f"Delivery {delivery.id} is {delivery.status}; only dead or failed ones are replayed")
    subscription = await repository.get_subscription(
        session, tenant=delivery.tenant, subscription_id=delivery.subscription_id
    )
    if subscription is None or not subscription.enabled:
        raise Conflict(f"Subscription {delivery.subscription_id} is deleted or disabled; enable it first")
    now = utcnow()
    delivery.status = PENDING
    delivery.round_attempts = 0
    delivery.next_attempt_at = now
    delivery.completed_at = None
    delivery.updated_at = now
    await session.flush()
    mark_queued(session)
    return delivery
