"""PagerDuty Events API v2: trigger on breach, risk or a firing burn-rate tier; resolve with the same dedup key."""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from slm_notifier.channels.base import AttemptOutcome, OutgoingMessage
from slm_notifier.channels.http import SafeHttp, attempt, outcome_for
from slm_notifier.itsm.ordering import AlertOrderStore
from slm_notifier.itsm.tickets import RESOLVED, TicketStore

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
SEVERITY = {"critical": "critical", "warning": "warning", "info": "info"}


class PagerDutyTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    routing_key: str = Field(min_length=1, max_length=64, description="the integration key of the service")
    url: AnyHttpUrl = Field(AnyHttpUrl(EVENTS_URL), description="the Events API v2 endpoint")


def action(message: OutgoingMessage) -> str | None:
    """trigger (breach, risk, a burn-rate tier firing), resolve (recovery, the tier stopped) or None."""
    if message.verb in ("breached", "at_risk"):
        return "trigger"
    if message.verb == "recovered":
        return "resolve"
    if message.verb == "burn_alert":
        return "trigger" if message.payload.get("firing") else "resolve"
    return None


def alert_key(message: OutgoingMessage) -> str:
    """What ties an alert to its resolution: the objective, and for a burn alert also its tier."""
    if message.verb == "burn_alert":
        return f"{message.correlation_key}:burn:{message.payload.get('tier')}"
    return message.correlation_key


def dedup_key(message: OutgoingMessage) -> str:
    """The same key for an alert and its resolution (at most 255 characters)."""
    value = f"slm:{message.tenant}:{alert_key(message)}"
    return value if len(value) <= 255 else "slm:" + hashlib.sha256(value.encode()).hexdigest()


def event_body(message: OutgoingMessage, routing_key: str) -> dict[str, Any]:
    """A trigger or resolve event."""
    if action(message) == "resolve":
        return {"routing_key": routing_key, "event_action": "resolve", "dedup_key": dedup_key(message)}
    assert message.content is not None
    data = message.payload
    body: dict[str, Any] = {
        "routing_key": routing_key,
        "event_action": "trigger",
        "dedup_key": dedup_key(message),
        "payload": {
            "summary": message.content.subject[:1024],
            "source": f"slm/{data.get('service_key', 'unknown')}",
            "severity": SEVERITY.get(message.content.severity, "warning"),
            "timestamp": message.event_time.isoformat(),
            "component": data.get("service_key"),
            "group": data.get("agreement_id"),
            "class": data.get("indicator"),
            "custom_details": {**dict(message.content.facts), "event_id": message.event_id},
        },
        "client": "SLM notifier",
    }
    if message.content.ack_url:
        body["links"] = [{"href": message.content.ack_url, "text": message.content.ack_label}]
    return body


class PagerDutyChannel:
    name = "pagerduty"
    target_model: type[BaseModel] = PagerDutyTarget
    needs_content = True

    def __init__(self, http: SafeHttp, tickets: TicketStore, order: AlertOrderStore | None = None) -> None:
        self.http = http
        self.tickets = tickets
        self.order = order or AlertOrderStore(tickets.db)

    async def send(self, message: OutgoingMessage) -> AttemptOutcome:
        """Trigger or resolve the alert of the event's correlation key (and burn-rate tier).

        An event observed before one already sent for the same dedup key (a trigger retried after its
        resolve) is not sent: PagerDuty would open the incident again with nothing left to resolve it.
        """
        if action(message) is None:
            return AttemptOutcome(succeeded=True, error=f"nothing to send to PagerDuty for {message.verb}")
        if not await self.order.claim(message, alert_key(message)):
            error = f"superseded: a later event for dedup key {dedup_key(message)} was sent first"
            return AttemptOutcome(succeeded=False, error=error, permanent=True, superseded=True)
        return await attempt(self.http.timeout_seconds, lambda: self._send(message))

    async def _send(self, message: OutgoingMessage) -> AttemptOutcome:
        target = PagerDutyTarget.model_validate(message.target)
        body = event_body(message, target.routing_key)
        answer = await self.http.request("POST", str(target.url), json_body=body, max_body=4096)
        if 200 <= answer.status_code < 300:
            await self._track(message, body["dedup_key"])
        return outcome_for(answer, what="PagerDuty")

    async def _track(self, message: OutgoingMessage, key: str) -> None:
        known = await self.tickets.open_ticket(subscription_id=message.subscription_id, key=alert_key(message))
        if action(message) == "resolve":
            if known is not None:
                await self.tickets.mark(known.id, RESOLVED)
        elif known is None:
            await self.tickets.opened(
                tenant=message.tenant,
                subscription_id=message.subscription_id,
                system=self.name,
                key=alert_key(message),
                external_id=key,
                external_key=None,
            )

    async def close(self) -> None:
        """The shared HTTP client is closed by its owner."""
