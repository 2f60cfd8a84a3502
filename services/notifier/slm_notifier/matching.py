"""Which subscriptions an event reaches: type patterns and filters, as pure functions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Any, get_args

from slm_shared.contracts import EVENTS
from slm_shared.contracts.registry import spec_for_type
from slm_shared.contracts.severity import SENT_SEVERITY

SEVERITY_RANK = {"info": 0, "warning": 1, "critical": 2}
TEST_EVENT_TYPE = "slm.notifier.subscription.test.v1"
DELIVERABLE_TYPES: tuple[str, ...] = (
    EVENTS.objective_at_risk.type,
    EVENTS.objective_breached.type,
    EVENTS.objective_recovered.type,
    EVENTS.agreement_activated.type,
    EVENTS.agreement_activated_v2.type,
    EVENTS.agreement_amended.type,
    EVENTS.agreement_withdrawn.type,
    EVENTS.agreement_terminated.type,
    EVENTS.agreement_expired.type,
    EVENTS.agreement_renewal_due.type,
    EVENTS.review_due.type,
    EVENTS.objective_burn_alert.type,
    EVENTS.ticket_sla_warning.type,
    EVENTS.ticket_sla_breached.type,
    EVENTS.report_ready.type,
    EVENTS.source_state_changed.type,
    EVENTS.action_created.type,
    EVENTS.action_overdue.type,
    EVENTS.change_requested.type,
    EVENTS.observation_recorded.type,
    EVENTS.observation_annotated.type,
    EVENTS.chain_at_risk.type,
    EVENTS.proposal_decided.type,
    TEST_EVENT_TYPE,
)

# Severity of events whose payload does not carry one in the info/warning/critical scale.
_FIXED_SEVERITY = {
    EVENTS.ticket_sla_breached.type: "critical",
    EVENTS.ticket_sla_warning.type: "warning",
    EVENTS.action_overdue.type: "warning",
}
_BURN_SEVERITY = {"page": "critical", "ticket": "warning"}


def severity_of(event_type: str, data: Mapping[str, Any]) -> str:
    """The severity filters compare: from the payload where it has one, else fixed per type."""
    declared = data.get("severity")
    if declared in SEVERITY_RANK:
        return str(declared)
    if declared in _BURN_SEVERITY:
        return _BURN_SEVERITY[str(declared)]
    return _FIXED_SEVERITY.get(event_type, "info")


def severities_of(event_type: str) -> list[str]:
    """Every severity `severity_of` gives events of this type, from the payloads their producers send: the
    severity fixed for the type, else each value the payload's `severity` field may take, else none."""
    if event_type in SENT_SEVERITY:
        examples: list[dict[str, Any]] = [{"severity": SENT_SEVERITY[event_type]}]
    else:
        spec = spec_for_type(event_type)
        field = spec.payload.model_fields.get("severity") if spec else None
        examples = [{"severity": value} for value in get_args(field.annotation)] if field else [{}]
    return sorted({severity_of(event_type, data) for data in examples}, key=SEVERITY_RANK.__getitem__)


@dataclass(frozen=True)
class EventFacts:
    """What filters look at in an event; a missing fact never matches a filter on it."""

    event_type: str
    service_key: str | None = None
    agreement_id: str | None = None
    consumer_party_id: str | None = None
    severity: str = "info"
    objective_id: str | None = None
    provider_party_id: str | None = None


def type_matches(patterns: Iterable[str], event_type: str) -> bool:
    """Whether any fnmatch-style pattern (e.g. `slm.measurement.objective.*`) matches the type."""
    return any(fnmatchcase(event_type, pattern) for pattern in patterns)


def known_types_matching(pattern: str) -> list[str]:
    """The deliverable event types a pattern matches (empty when it matches none)."""
    return [event_type for event_type in DELIVERABLE_TYPES if fnmatchcase(event_type, pattern)]


def filters_match(filters: Mapping[str, Any], facts: EventFacts) -> bool:
    """Whether the event passes every filter a subscription sets."""
    for name in ("service_key", "agreement_id", "consumer_party_id"):
        wanted = filters.get(name)
        if wanted is not None and getattr(facts, name) != wanted:
            return False
    minimum = filters.get("min_severity")
    if minimum is not None:
        return SEVERITY_RANK.get(facts.severity, 0) >= SEVERITY_RANK[minimum]
    return True


def subscription_matches(event_types: Iterable[str], filters: Mapping[str, Any], facts: EventFacts) -> bool:
    """Whether a subscription with these patterns and filters wants the event."""
    return type_matches(event_types, facts.event_type) and filters_match(filters, facts)
