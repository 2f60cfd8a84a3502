"""What applied OpenSLO documents ask of measurement and the notifier, written to the outbox with the apply."""

from __future__ import annotations

from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from slm_shared.bus import record_event
from slm_shared.contracts import EVENTS
from slm_shared.contracts.payloads import OpenSLOAppliedV1, OpenSLORemovedV1
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


def unwired(*, kind: str, name: str, before: list[dict[str, Any]], after: list[dict[str, Any]]) -> OpenSLORemovedV1:
    """What the documents wired before a deletion that the remaining ones no longer do: only the deleted one's."""
    was, now = wiring(before), wiring(after)
    kept_series = {(s.service, s.indicator) for s in now.pulled_series}
    kept_targets = {t.name for t in now.notification_targets}
    kept_sources = {s.name for s in now.data_sources}
    return OpenSLORemovedV1.model_validate(
        {
            "kind": kind,
            "name": name,
            "pulled_series": [
                {"service": s.service, "indicator": s.indicator}
                for s in was.pulled_series
                if (s.service, s.indicator) not in kept_series
            ],
            "notification_targets": [t.name for t in was.notification_targets if t.name not in kept_targets],
            "data_sources": [s.name for s in was.data_sources if s.name not in kept_sources],
        }
    )


def openslo_removed(session: AsyncSession, *, tenant: str, removed: OpenSLORemovedV1) -> None:
    """Tell measurement and the notifier, in the deletion's transaction, what stops with the deleted document."""
    if removed.pulled_series or removed.notification_targets or removed.data_sources:
        record_event(session, EVENTS.openslo_removed, tenant=tenant, subject=tenant, data=removed)
