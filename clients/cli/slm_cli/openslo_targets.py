"""Notifier subscriptions for applied OpenSLO AlertNotificationTargets (see `slm_shared.terms.openslo_wiring`).

The platform subscribes them when the catalogue accepts the documents; a credential the notifier's
environment does not hold (a PagerDuty routing key, a Slack or Teams webhook URL) may come from the
environment `slm apply` runs in, read here and sent only to the notifier, which stores it encrypted.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from slm_shared.terms import openslo_wiring
from slm_shared.terms.openslo_wiring import BURN_ALERT, notification_targets

__all__ = ["BURN_ALERT", "channel_of", "notification_targets", "with_credential"]


def channel_of(document: dict[str, Any], environ: Mapping[str, str]) -> tuple[str, dict[str, Any]] | str:
    """(channel, target with its credential from `environ`) of a notification target, or why it cannot be one."""
    found = openslo_wiring.channel_of(document)
    if isinstance(found, str):
        return found
    channel, target, variable = found
    complete = openslo_wiring.with_secret(channel, target, variable, environ)
    if complete is None:
        return f"the environment variable {variable} (the {channel} credential) is not set"
    return channel, complete


def with_credential(wanted: dict[str, Any], environ: Mapping[str, str] | None = None) -> dict[str, Any] | None:
    """A wanted subscription's target with the credential from this environment; None when it is not here."""
    environ = os.environ if environ is None else environ
    return openslo_wiring.with_secret(wanted["channel"], wanted["target"], wanted["secret_env"], environ)
