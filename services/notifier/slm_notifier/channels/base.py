"""What every channel (webhook today; chat, e-mail, ITSM later) receives and reports back."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from pydantic import BaseModel


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


class Channel(Protocol):
    """A way of reaching a subscriber; `target_model` validates a subscription's target."""

    name: str
    target_model: type[BaseModel]

    async def send(self, message: OutgoingMessage) -> AttemptOutcome:
        """Make one attempt; never raises for delivery failures, reports them instead."""
        ...

    async def close(self) -> None:
        """Release what the channel holds."""
        ...
