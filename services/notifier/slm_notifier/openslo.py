"""Applied OpenSLO AlertNotificationTargets as subscriptions to their service's burn alerts.

The catalogue publishes each target (`slm.catalog.openslo.applied`) as a subscription named
`openslo:<target>:<service>`: one is created when none has the name, the one that has it is changed
when its channel or target changed (never a second one), and an unchanged one is left alone, so a
redelivered event changes nothing. A credential (PagerDuty routing key, Slack or Teams webhook URL)
never travels in the event: it names the variable, read here from the notifier's environment (only
`SLM_PAGERDUTY_`, `SLM_SLACK_` and `SLM_TEAMS_` variables); without it the stored credential stays,
and a new target that has neither is left unsubscribed, logged by the variable's name.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from typing import Any

from pydantic import ValidationError
from sqlalchemy import select, text
from sqlalchemy.ext.asyncio import AsyncSession
from sqlmodel import col

from slm_notifier import service
from slm_notifier.models import Subscription
from slm_notifier.schemas import SubscriptionCreate, validated_target
from slm_shared.bus import Handler
from slm_shared.bus.inbox import PermanentError
from slm_shared.contracts import EVENTS, CloudEvent
from slm_shared.contracts.payloads import OpenSLOAppliedV1, OpenSLOTargetV1
from slm_shared.db import utcnow
from slm_shared.errors import Unprocessable
from slm_shared.terms.openslo_wiring import BURN_ALERT, SECRET_FROM_ENV

logger = logging.getLogger(__name__)


def _credential(given: OpenSLOTargetV1, held: Subscription | None, environ: Mapping[str, str]) -> dict[str, Any] | None:
    """The target with its credential: from the environment, else the one stored; None without either."""
    if given.secret_env is None:
        return dict(given.target)
    _, prefix, field = SECRET_FROM_ENV[given.channel]
    value = environ.get(given.secret_env) if given.secret_env.startswith(prefix) else None
    if value:
        return {**given.target, field: value}
    if held is not None and held.channel == given.channel and held.target.get(field):
        return {**given.target, field: held.target[field]}
    return None


async def _subscribe(
    session: AsyncSession, event: CloudEvent, given: OpenSLOTargetV1, held: Subscription | None
) -> None:
    target = _credential(given, held, os.environ)
    if target is None:
        logger.warning(
            "notification target %s not subscribed: the variable %s is not set in the notifier's environment",
            given.name,
            given.secret_env,
        )
        return
    filters = {"service_key": given.service_key}
    if held is None:
        create = SubscriptionCreate(
            name=given.name, event_types=[BURN_ALERT], channel=given.channel, target=target, filters=filters
        )
        await service.create_subscription(session, tenant=event.tenant, data=create)
        return
    if held.updated_at > event.time:
        return  # changed since these documents were applied: the newer change stands
    target = validated_target(given.channel, target)
    if (held.channel, held.target, held.event_types, held.filters) == (given.channel, target, [BURN_ALERT], filters):
        return
    service.forget_subscriptions(session)
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
    for given in data.notification_targets:
        try:
            await _subscribe(session, event, given, held.get(given.name))
        except (Unprocessable, ValidationError) as exc:
            fields = (
                [e.field for e in exc.errors]
                if isinstance(exc, Unprocessable)
                else [str(e["loc"]) for e in exc.errors()]
            )
            logger.warning("notification target %s not subscribed: its %s is not valid", given.name, ", ".join(fields))
    await session.flush()


OPENSLO_HANDLERS: dict[str, Handler] = {EVENTS.openslo_applied.type: on_openslo_applied}
