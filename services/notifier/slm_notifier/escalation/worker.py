"""The escalation worker: a scheduled pass over open notifications."""

from __future__ import annotations

import logging
from typing import cast

from slm_notifier.config import Settings
from slm_notifier.contacts.book import ContactBook
from slm_notifier.escalation.service import Escalator
from slm_shared.app import ServiceContext
from slm_shared.tasks import checkpoint, pause

logger = logging.getLogger(__name__)


def contact_book(context: ServiceContext) -> ContactBook:
    """The service's one ContactBook, shared by the delivery and escalation workers."""
    if "contact_book" not in context.extras:
        settings = cast(Settings, context.settings)
        context.extras["contact_book"] = ContactBook.from_settings(context.db, settings)
    return cast(ContactBook, context.extras["contact_book"])


async def escalation_worker(context: ServiceContext) -> None:
    """Run escalation passes every `escalation_poll_seconds` for the service's lifetime."""
    settings = cast(Settings, context.settings)
    escalator = Escalator(
        context.db,
        contact_book(context),
        default_seconds=settings.escalation_seconds,
        lookup_retry_seconds=settings.contact_retry_seconds,
        max_reminders=settings.chase_max_reminders,
    )
    context.extras["escalator"] = escalator
    while True:
        checkpoint()
        try:
            await escalator.run_once()
        except Exception as exc:  # noqa: BLE001 - the worker outlives database hiccups
            checkpoint()
            logger.warning("escalation pass failed: %s", exc)
        await pause(settings.escalation_poll_seconds)
