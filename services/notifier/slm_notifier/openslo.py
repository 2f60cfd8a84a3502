"""Applied OpenSLO AlertNotificationTargets as subscriptions to their service's burn alerts.

The catalogue publishes each target (`slm.catalog.openslo.applied`) as a subscription named
`openslo:<target>:<service>`: one is created when none has the name, the one that has it is changed
when its channel or target changed (never a second one), and an unchanged one is left alone, so a
redelivered event changes nothing; each keeps the time of the apply that set it (`applied_at`, the
event's time), and an older apply consumed after a newer one changes nothing. A credential (PagerDuty
routing key, Slack or Teams webhook URL) never travels in the event: it names the variable, read here
from the notifier's environment only when named for the event's tenant (`SLM_PAGERDUTY_<TENANT>_<NAME>`,
`SLM_SLACK_<TENANT>_<NAME>`, `SLM_TEAMS_<TENANT>_<NAME>`, for a tenant whose id is lower-case letters, digits and
`-` only, so no two tenants share one); without it the stored credential stays, and a
new target that has neither is left unsubscribed, logged by the variable's name. A PagerDuty key read
here is sent only to `NOTIFIER_PAGERDUTY_EVENTS_URL` (PagerDuty's Events API unless set): the
documents' `slm/events-url` is never used by the notifier.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from slm_notifier import service
from slm_notifier.itsm.pagerduty import EVENTS_URL
from slm_notifier.models import RemovedSubscription, Subscription
from slm_notifier.schemas import SubscriptionCreate, validated_target
from slm_shared.bus import Handler
from slm_shared.bus.dead_letters import PermanentError
from slm_shared.contracts import EVENTS, CloudEvent
from slm_shared.contracts.payloads import OpenSLOAppliedV1, OpenSLORemovedV1, OpenSLOTargetV1
from slm_shared.db import utcnow
from slm_shared.errors import Unprocessable
from slm_shared.terms.openslo_credentials import tenant_may_read, tenant_names_variables, tenant_variable_prefix
from slm_shared.terms.openslo_wiring import BURN_ALERT, SECRET_FROM_ENV

logger = logging.getLogger(__name__)
# the reason a subscription was disabled by the deletion of its OpenSLO document; a later apply enables it again
DELETED = "OpenSLO document deleted"


def events_url(environ: Mapping[str, str]) -> str:
    """Where PagerDuty events for a routing key from the notifier's environment go: never the documents' choice."""
    return environ.get("NOTIFIER_PAGERDUTY_EVENTS_URL") or EVENTS_URL


def _credential(
    tenant: str, given: OpenSLOTargetV1, held: Subscription | None, environ: Mapping[str, str]
) -> dict[str, Any] | None:
    """The target with its credential: from the tenant's variable, else the one stored; None without either.

    The destination of a credential never comes from the documents (any manager of any tenant writes
    those): a key from the environment goes to the configured Events API, a stored one where it went."""
    if given.secret_env is None:
        return dict(given.target)
    field = SECRET_FROM_ENV[given.channel][2]
    target = {name: value for name, value in given.target.items() if name not in (field, "url")}
    value = environ.get(given.secret_env) if tenant_may_read(given.channel, tenant, given.secret_env) else None
    if value:
        return (
            {**target, "url": events_url(environ), field: value}
            if given.channel == "pagerduty"
            else {**target, field: value}
        )
    if held is not None and held.channel == given.channel and held.target.get(field):
        return {**target, **{name: held.target[name] for name in (field, "url") if name in held.target}}
    return None


async def _subscribe(
    session: AsyncSession, event: CloudEvent, given: OpenSLOTargetV1, held: Subscription | None
) -> None:
    target = _credential(event.tenant, given, held, os.environ)
    if target is None and not tenant_names_variables(event.tenant):
        logger.warning(
            "notification target %s not subscribed: the notifier reads credentials only for tenants whose id is "
            "lower-case letters, digits and '-' (so no two tenants share a variable), not %r",
            given.name,
            event.tenant,
        )
        return
    if target is None:
        logger.warning(
            "notification target %s not subscribed: the variable %s is not one the notifier reads for this tenant "
            "(%sNAME) or is not set in its environment",
            given.name,
            given.secret_env,
            tenant_variable_prefix(given.channel, event.tenant),
        )
        return
    filters = {"service_key": given.service_key}
    if held is None:
        create = SubscriptionCreate(
            name=given.name, event_types=[BURN_ALERT], channel=given.channel, target=target, filters=filters
        )
        created = await service.create_subscription(session, tenant=event.tenant, data=create)
        created.applied_at = event.time
        return
    # set by a later apply (its event's time), or, never applied, changed over the API since: the newer stands
    if (held.applied_at or held.updated_at) > event.time:
        return
    if held.applied_at == event.time and not held.enabled and (held.disabled_reason or "").startswith(DELETED):
        return  # disabled by a deletion of the same time: the deletion stands, whichever was consumed first
    held.applied_at = event.time
    target = validated_target(given.channel, target)
    deleted = not held.enabled and (held.disabled_reason or "").startswith(DELETED)
    unchanged = (held.channel, held.target, held.event_types, held.filters) == (
        given.channel,
        target,
        [BURN_ALERT],
        filters,
    )
    if unchanged and not deleted:
        return
    service.forget_subscriptions(session)
    if deleted:  # applied again after its document was deleted
        held.enabled, held.disabled_reason = True, None
    held.channel, held.target, held.event_types, held.filters = given.channel, target, [BURN_ALERT], filters
    held.version += 1
    held.updated_at = utcnow()


async def on_openslo_applied(session: AsyncSession, event: CloudEvent) -> None:
    """Create or change the subscription of each notification target the applied documents define."""
    try:
        data = event.payload(OpenSLOAppliedV1)
    except ValidationError as exc:
        raise PermanentError(f"invalid {event.type} payload: {exc}") from exc
    names = [given.name for given in data.notification_targets]
    if session.get_bind().dialect.name == "postgresql":  # two replicas with two applies: one after the other
        await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"openslo:{event.tenant}"})
    held: dict[str, Subscription] = {}
    rows = await session.scalars(
        select(Subscription)
        .where(col(Subscription.tenant) == event.tenant, col(Subscription.name).in_(names))
        .order_by(col(Subscription.created_at), col(Subscription.id))
    )
    for row in rows:
        held.setdefault(row.name, row)
    removed = {
        removal.name: removal
        for removal in await session.scalars(
            select(RemovedSubscription).where(
                col(RemovedSubscription.tenant) == event.tenant, col(RemovedSubscription.name).in_(names)
            )
        )
    }
    for given in data.notification_targets:
        # deleted at or after this apply's time, the deletion consumed first (it left the name to an API row or none)
        removal = removed.get(given.name)
        removed_at = removal.removed_at if removal is not None else None
        deleted_later = removed_at is not None and removed_at >= event.time
        if given.name not in held and deleted_later:
            continue  # its document was deleted after this apply: no subscription is made
        current = held.get(given.name)
        taken_over = current is not None and current.applied_at is None
        consumed_at = removal.consumed_at if removal is not None else None
        made_since = current is not None and consumed_at is not None and current.created_at >= consumed_at
        if taken_over and deleted_later and made_since:
            continue  # made over the API after the deletion was consumed: in order, that subscription wins
        try:
            await _subscribe(session, event, given, current)
        except (Unprocessable, ValidationError) as exc:
            fields = (
                [e.field for e in exc.errors]
                if isinstance(exc, Unprocessable)
                else [str(e["loc"]) for e in exc.errors()]
            )
            logger.warning("notification target %s not subscribed: its %s is not valid", given.name, ", ".join(fields))
        if current is not None and taken_over and current.applied_at == event.time and removal and deleted_later:
            # made over the API, taken over by this apply, and its document deleted since: disabled as in order,
            # with the same reason (a deletion remembered before its document was recorded gives none)
            reason = f"{DELETED}: {removal.document}" if removal.document else DELETED
            _disable(session, current, removal.removed_at, reason)
    await session.flush()


async def on_openslo_removed(session: AsyncSession, event: CloudEvent) -> None:
    """Disable the subscriptions only the deleted document asked for, so nothing more is sent; an apply older than
    the deletion (redelivered late) does not enable them again, a newer one does. The delivery log stays. A name with
    no subscription yet, or only one made over the API, is remembered with the deletion's time: its older apply
    consumed later creates none, and one taking over the API's subscription disables it at once, as if in order."""
    try:
        data = event.payload(OpenSLORemovedV1)
    except ValidationError as exc:
        raise PermanentError(f"invalid {event.type} payload: {exc}") from exc
    if session.get_bind().dialect.name == "postgresql":
        await session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:key))"), {"key": f"openslo:{event.tenant}"})
    rows = list(
        await session.scalars(
            select(Subscription).where(
                col(Subscription.tenant) == event.tenant, col(Subscription.name).in_(data.notification_targets)
            )
        )
    )
    documents = {held.name for held in rows if held.applied_at is not None}
    for name in set(data.notification_targets) - documents:
        # its apply is not consumed yet (nak'd, redelivered later): remembered, so that older apply creates nothing
        # and, when it takes over a subscription made over the API, disables it at once
        removal = await session.get(RemovedSubscription, (event.tenant, name))
        document = f"{data.kind} {data.name}"
        if removal is None:
            session.add(RemovedSubscription(tenant=event.tenant, name=name, removed_at=event.time, document=document))
        elif removal.removed_at < event.time:
            removal.removed_at, removal.document = event.time, document
    for held in rows:
        # never applied (made over the API under that name), or set by a later apply: not this deletion's
        if held.applied_at is None or held.applied_at > event.time:
            continue
        _disable(session, held, event.time, f"{DELETED}: {data.kind} {data.name}")
    await session.flush()


def _disable(session: AsyncSession, held: Subscription, removed_at: datetime, reason: str) -> None:
    """Disable the subscription for its document's deletion at removed_at (kept as the time that last set it)."""
    service.forget_subscriptions(session)
    held.applied_at = removed_at
    if held.enabled:
        held.enabled, held.disabled_reason = False, reason
        held.version += 1
        held.updated_at = utcnow()


OPENSLO_HANDLERS: dict[str, Handler] = {
    EVENTS.openslo_applied.type: on_openslo_applied,
    EVENTS.openslo_removed.type: on_openslo_removed,
}
