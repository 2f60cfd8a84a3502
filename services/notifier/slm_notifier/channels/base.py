"""What every channel receives and reports back."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel

from slm_notifier.messages import Content


@dataclass(frozen=True)
class OutgoingMessage:
    """One attempt at one delivery, with everything a channel needs to send it."""

    delivery_id: str
    event_id: str
    event_type: str
    event_time: datetime
    tenant: str
    payload: dict[str, Any]
    target: dict[str, Any]
    secrets: tuple[str, ...]
    language: str = "en"
    subscription_id: str = ""
    content: Content | None = None
    recipients: tuple[str, ...] = field(default_factory=tuple)
    escalation_level: int = 1

    @property
    def correlation_key(self) -> str:
        """What ties a breach to its recovery: the agreement and objective (or the event itself)."""
        agreement, objective = self.payload.get("agreement_id"), self.payload.get("objective_id")
        if agreement and objective:
            return f"{agreement}:{objective}"
        return self.event_id

    @property
    def verb(self) -> str:
        """The event's verb: `breached`, `recovered`, `activated`, `test`, ..."""
        parts = self.event_type.split(".")
        return parts[-2] if len(parts) >= 2 else self.event_type


@dataclass(frozen=True)
class AttemptOutcome:
    """What one attempt came to; `permanent` failures are not retried."""

    succeeded: bool
    status_code: int | None = None
    error: str | None = None
    duration_ms: int = 0
    retry_after_seconds: float | None = None
    permanent: bool = False
    disable_subscription: bool = False
    superseded: bool = False  # not sent: a newer event about the same thing went first


class Channel(Protocol):
    """A way of reaching a subscriber; `target_model` validates a subscription's target."""

    name: str
    target_model: type[BaseModel]
    needs_content: bool

    async def send(self, message: OutgoingMessage) -> AttemptOutcome:
        """Make one attempt; never raises for delivery failures, reports them instead."""
        ...

    async def close(self) -> None:
        """Release what the channel holds."""
        ...
