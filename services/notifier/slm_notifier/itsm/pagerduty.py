"""PagerDuty Events API v2: trigger on breach (or risk), resolve on recovery with the same dedup key."""

from __future__ import annotations

import hashlib
from typing import Any

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from slm_notifier.channels.base import AttemptOutcome, OutgoingMessage
from slm_notifier.channels.http import SafeHttp, attempt, outcome_for
from slm_notifier.itsm.tickets import RESOLVED, TicketStore

EVENTS_URL = "https://events.pagerduty.com/v2/enqueue"
SEVERITY = {"critical": "critical", "warning": "warning", "info": "info"}


class PagerDutyTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    routing_key: str = Field(min_length=1, max_length=64, description="the integration key of the service")
    url: AnyHttpUrl = Field(AnyHttpUrl(EVENTS_URL), description="the Events API v2 endpoint")


def dedup_key(message: OutgoingMessage) -> str:
    """The same key for a breach and its recovery (at most 255 characters)."""
    value = f"slm:{message.tenant}:{message.correlation_key}"
    return value if len(value) <= 255 else "slm:" + hashlib.sha256(value.encode()).hexdigest()


def event_body(message: OutgoingMessage, routing_key: str) -> dict[str, Any]:
    """A trigger or resolve event."""
    if message.verb == "recovered":
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

    def __init__(self, http: SafeHttp, tickets: TicketStore) -> None:
        self.http = http
        self.tickets = tickets

    async def send(self, message: OutgoingMessage) -> AttemptOutcome:
        """Trigger or resolve the alert of the event's correlation key."""
        if message.verb not in ("breached", "at_risk", "recovered"):
            return AttemptOutcome(succeeded=True, error=f"nothing to send to PagerDuty for {message.verb}")
        return await attempt(self.http.timeout_seconds, lambda: self._send(message))

    async def _send(self, message: OutgoingMessage) -> AttemptOutcome:
        target = PagerDutyTarget.model_validate(message.target)
        body = event_body(message, target.routing_key)
        answer = await self.http.request("POST", str(target.url), json_body=body, max_body=4096)
        if 200 <= answer.status_code < 300:
            await self._track(message, body["dedup_key"])
        return outcome_for(answer, what="PagerDuty")

    async def _track(self, message: OutgoingMessage, key: str) -> None:
        known = await self.tickets.open_ticket(subscription_id=message.subscription_id, key=message.correlation_key)
        if message.verb == "recovered":
            if known is not None:
                await self.tickets.mark(known.id, RESOLVED)
        elif known is None:
            await self.tickets.opened(
                tenant=message.tenant,
                subscription_id=message.subscription_id,
                system=self.name,
                key=message.correlation_key,
                external_id=key,
                external_key=None,
            )

    async def close(self) -> None:
        """The shared HTTP client is closed by its owner."""
