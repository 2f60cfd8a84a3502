"""Delivery channels by name; a new channel is a module here and an entry in `build_channels`."""

from __future__ import annotations

from pydantic import BaseModel

from slm_notifier.channels.base import AttemptOutcome, Channel, OutgoingMessage
from slm_notifier.channels.webhook import WebhookChannel, WebhookTarget

TARGET_MODELS: dict[str, type[BaseModel]] = {"webhook": WebhookTarget}


def build_channels(*, allow_private_targets: bool, timeout_seconds: float) -> dict[str, Channel]:
    """Every channel the worker can send through, keyed by the name subscriptions use."""
    return {
        "webhook": WebhookChannel(allow_private_targets=allow_private_targets, timeout_seconds=timeout_seconds),
    }


__all__ = ["TARGET_MODELS", "AttemptOutcome", "Channel", "OutgoingMessage", "WebhookChannel", "build_channels"]
