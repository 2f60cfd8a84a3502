"""What applied OpenSLO documents ask of measurement and the notifier, written to the outbox with the apply."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from slm_shared.bus import record_event
from slm_shared.contracts import EVENTS
from slm_shared.contracts.payloads import OpenSLOAppliedV1
from slm_shared.terms import openslo_wiring


def wiring(documents: list[dict[str, Any]]) -> OpenSLOAppliedV1:
    """The data sources, pulled series and notification targets the documents define; no credential in it."""
    targets, _ = openslo_wiring.notification_targets(documents)
    return OpenSLOAppliedV1.model_validate(
        {
            "data_sources": openslo_wiring.data_sources(documents),
            "pulled_series": openslo_wiring.pulled_series(documents),
            "notification_targets": targets,
        }
    )


def openslo_applied(session: AsyncSession, *, tenant: str, documents: list[dict[str, Any]]) -> None:
    """Tell measurement and the notifier, in the apply's transaction, when the documents ask anything of them."""
    data = wiring(documents)
    if data.data_sources or data.pulled_series or data.notification_targets:
        record_event(session, EVENTS.openslo_applied, tenant=tenant, subject=tenant, data=data)
