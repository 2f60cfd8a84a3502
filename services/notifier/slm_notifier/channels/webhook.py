"""The generic webhook channel: Standard Webhooks signed JSON over HTTP(S), no redirects."""

from __future__ import annotations

import json
from typing import Any

from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from slm_notifier.channels.base import AttemptOutcome, OutgoingMessage
from slm_notifier.channels.http import SafeHttp, attempt, outcome_for, parse_retry_after
from slm_notifier.signing import signature_header
from slm_shared.db import utcnow

__all__ = ["WebhookChannel", "WebhookTarget", "parse_retry_after", "webhook_body"]


class WebhookTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl = Field(description="http(s) URL that receives the POST")


def webhook_body(message: OutgoingMessage) -> str:
    """The JSON body: `type`, `timestamp` and `data` (the payload with event id and tenant)."""
    data: dict[str, Any] = {**message.payload, "event_id": message.event_id, "tenant": message.tenant}
    if message.escalation_level > 1:
        data["escalation_level"] = message.escalation_level
    body = {"type": message.event_type, "timestamp": message.event_time.isoformat(), "data": data}
    return json.dumps(body, separators=(",", ":"), default=str)


class WebhookChannel:
    """Sends one signed POST per attempt to the address the target host resolved to."""

    name: str = "webhook"
    target_model: type[BaseModel] = WebhookTarget
    needs_content = False

    def __init__(self, http: SafeHttp) -> None:
        self.http = http

    async def send(self, message: OutgoingMessage) -> AttemptOutcome:
        """Make one attempt; every failure becomes an outcome, never an exception."""
        return await attempt(self.http.timeout_seconds, lambda: self._send(message))

    async def _send(self, message: OutgoingMessage) -> AttemptOutcome:
        body = webhook_body(message)
        now = utcnow()
        headers = {
            "webhook-id": message.delivery_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature_header(
                message.secrets, msg_id=message.delivery_id, timestamp=now, body=body
            ),
        }
        answer = await self.http.request("POST", str(message.target["url"]), content=body.encode(), headers=headers)
        return outcome_for(answer)

    async def close(self) -> None:
        """The shared HTTP client is closed by its owner."""
