"""The severity producers put in the payload of the event types whose severity is fixed by the type.

Measurement sends objective status events with these; the notifier publishes them in its event-type list.
"""

from __future__ import annotations

from slm_shared.contracts.registry import EVENTS

SENT_SEVERITY: dict[str, str] = {
    EVENTS.objective_breached.type: "critical",
    EVENTS.objective_at_risk.type: "warning",
    EVENTS.objective_recovered.type: "info",
}
