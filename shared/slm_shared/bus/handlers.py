"""Handler tables: several modules of one service may consume the same event type."""

from __future__ import annotations

from collections.abc import Mapping

from sqlalchemy.ext.asyncio import AsyncSession

from slm_shared.bus.inbox import Handler
from slm_shared.contracts import CloudEvent


def chain_handlers(*tables: Mapping[str, Handler]) -> dict[str, Handler]:
    """One handler per event type that runs every table's handler for it, in the order given.

    The handlers of one event share its inbox transaction, so either all of them apply or none
    does. Merging tables with ``{**a, **b}`` would keep only the last handler of a shared type.
    """
    by_type: dict[str, list[Handler]] = {}
    for table in tables:
        for event_type, handler in table.items():
            by_type.setdefault(event_type, []).append(handler)
    return {event_type: _chained(handlers) for event_type, handlers in by_type.items()}


def _chained(handlers: list[Handler]) -> Handler:
    if len(handlers) == 1:
        return handlers[0]

    async def run_all(session: AsyncSession, event: CloudEvent) -> None:
        for handler in handlers:
            await handler(session, event)

    return run_all
