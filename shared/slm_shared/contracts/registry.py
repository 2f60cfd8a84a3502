"""Every event type the platform publishes, and the stream each producer owns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slm_shared.contracts.envelope import EventSpec
from slm_shared.contracts.payloads import (
    AgreementActivatedV1,
    AgreementEndedV1,
    AgreementNotMeasuredV1,
    AgreementRenewalDueV1,
    AgreementStateChangedV1,
    BurnAlertV1,
    CalendarChangedV1,
    ChainRiskV1,
    ChangeRequestedV1,
    ChangeStatusChangedV1,
    DependencyChangedV1,
    ImprovementActionV1,
    IndicatorChangedV1,
    ObjectiveStatusV1,
    ObservationAnnotatedV1,
    ObservationRecordedV1,
    OfferingPublishedV1,
    OfferingRetiredV1,
    OpenSLOAppliedV1,
    OpenSLORemovedV1,
    PartyChangedV1,
    ProposalDecidedV1,
    ReportReadyV1,
    ReviewDueV1,
    ReviewHeldV1,
    ServiceCreatedV1,
    ServiceRetiredV1,
    ServiceUpdatedV1,
    SourceStateV1,
    TicketSlaV1,
)
from slm_shared.contracts.payloads_v2 import AgreementActivatedV2, OfferingPublishedV2


class Events:
    """The catalogue of event types; look one up by attribute or by its `type` string."""

    service_created = EventSpec("catalog", "service", "created", ServiceCreatedV1)
    service_updated = EventSpec("catalog", "service", "updated", ServiceUpdatedV1)
    offering_published = EventSpec("catalog", "offering", "published", OfferingPublishedV1)
    offering_published_v2 = EventSpec("catalog", "offering", "published", OfferingPublishedV2, version=2)
    service_retired = EventSpec("catalog", "service", "retired", ServiceRetiredV1)
    offering_retired = EventSpec("catalog", "offering", "retired", OfferingRetiredV1)
    indicator_created = EventSpec("catalog", "indicator", "created", IndicatorChangedV1)
    indicator_updated = EventSpec("catalog", "indicator", "updated", IndicatorChangedV1)
    indicator_deleted = EventSpec("catalog", "indicator", "deleted", IndicatorChangedV1)
    calendar_created = EventSpec("catalog", "calendar", "created", CalendarChangedV1)
    calendar_updated = EventSpec("catalog", "calendar", "updated", CalendarChangedV1)
    calendar_deleted = EventSpec("catalog", "calendar", "deleted", CalendarChangedV1)
    dependency_added = EventSpec("catalog", "dependency", "added", DependencyChangedV1)
    dependency_removed = EventSpec("catalog", "dependency", "removed", DependencyChangedV1)
    openslo_applied = EventSpec("catalog", "openslo", "applied", OpenSLOAppliedV1)
    openslo_removed = EventSpec("catalog", "openslo", "removed", OpenSLORemovedV1)

    party_created = EventSpec("agreements", "party", "created", PartyChangedV1)
    party_updated = EventSpec("agreements", "party", "updated", PartyChangedV1)

    agreement_activated = EventSpec("agreements", "agreement", "activated", AgreementActivatedV1)
    agreement_activated_v2 = EventSpec("agreements", "agreement", "activated", AgreementActivatedV2, version=2)
    agreement_ended = EventSpec("agreements", "agreement", "ended", AgreementEndedV1)
    agreement_proposed = EventSpec("agreements", "agreement", "proposed", AgreementStateChangedV1)
    agreement_countered = EventSpec("agreements", "agreement", "countered", AgreementStateChangedV1)
    agreement_agreed = EventSpec("agreements", "agreement", "agreed", AgreementStateChangedV1)
    agreement_amended = EventSpec("agreements", "agreement", "amended", AgreementStateChangedV1)
    agreement_withdrawn = EventSpec("agreements", "agreement", "withdrawn", AgreementStateChangedV1)
    agreement_expired = EventSpec("agreements", "agreement", "expired", AgreementStateChangedV1)
    agreement_terminated = EventSpec("agreements", "agreement", "terminated", AgreementStateChangedV1)
    agreement_renewal_due = EventSpec("agreements", "agreement", "renewal_due", AgreementRenewalDueV1)
    review_due = EventSpec("agreements", "review", "due", ReviewDueV1)
    review_held = EventSpec("agreements", "review", "held", ReviewHeldV1)
    action_created = EventSpec("agreements", "action", "created", ImprovementActionV1)
    action_overdue = EventSpec("agreements", "action", "overdue", ImprovementActionV1)
    action_updated = EventSpec("agreements", "action", "updated", ImprovementActionV1)
    change_requested = EventSpec("agreements", "change", "requested", ChangeRequestedV1)

    objective_at_risk = EventSpec("measurement", "objective", "at_risk", ObjectiveStatusV1)
    objective_breached = EventSpec("measurement", "objective", "breached", ObjectiveStatusV1)
    objective_recovered = EventSpec("measurement", "objective", "recovered", ObjectiveStatusV1)
    objective_burn_alert = EventSpec("measurement", "objective", "burn_alert", BurnAlertV1)
    ticket_sla_warning = EventSpec("measurement", "ticket", "sla_warning", TicketSlaV1)
    ticket_sla_breached = EventSpec("measurement", "ticket", "sla_breached", TicketSlaV1)
    report_ready = EventSpec("measurement", "report", "ready", ReportReadyV1)
    source_state_changed = EventSpec("measurement", "source", "state_changed", SourceStateV1)
    agreement_not_measured = EventSpec("measurement", "agreement", "not_measured", AgreementNotMeasuredV1)
    observation_recorded = EventSpec("measurement", "observation", "recorded", ObservationRecordedV1)
    observation_annotated = EventSpec("measurement", "observation", "annotated", ObservationAnnotatedV1)
    chain_at_risk = EventSpec("measurement", "chain", "at_risk", ChainRiskV1)
    proposal_decided = EventSpec("measurement", "proposal", "decided", ProposalDecidedV1)

    change_status_changed = EventSpec("notifier", "change", "status_changed", ChangeStatusChangedV1)


EVENTS = Events()

_BY_TYPE: dict[str, EventSpec[Any]] = {spec.type: spec for spec in vars(Events).values() if isinstance(spec, EventSpec)}


def spec_for_type(event_type: str) -> EventSpec[Any] | None:
    """The spec of a versioned event type, or None if unknown."""
    return _BY_TYPE.get(event_type)


def all_specs() -> list[EventSpec[Any]]:
    return list(_BY_TYPE.values())


@dataclass(frozen=True)
class StreamSpec:
    """A JetStream stream owned by one producing service."""

    name: str
    subjects: tuple[str, ...]
    work_queue: bool = False
    duplicate_window: float = 120.0


STREAMS: dict[str, StreamSpec] = {
    producer: StreamSpec(name=f"SLM_{producer.upper()}", subjects=(f"slm.{producer}.>",))
    for producer in ("catalog", "agreements", "measurement", "notifier")
}

# High-volume measurement ingestion: a work queue (each message consumed once), apart from the event streams.
# JetStream de-duplicates Nats-Msg-Id across a whole stream, so one tenant's id would suppress another
# tenant's batch; the window is kept to JetStream's least (100 ms) and the consumer de-duplicates per tenant.
STREAMS["ingest"] = StreamSpec(name="SLM_INGEST", subjects=("slm.ingest.>",), work_queue=True, duplicate_window=0.1)
