"""Every event type the platform publishes, and the stream each producer owns."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from slm_shared.contracts.envelope import EventSpec
from slm_shared.contracts.payloads import (
    AgreementActivatedV1,
    AgreementEndedV1,
    ObjectiveStatusV1,
    OfferingPublishedV1,
    ServiceCreatedV1,
    ServiceUpdatedV1,
)


class Events:
    """The catalogue of event types; look one up by attribute or by its `type` string."""

    service_created = EventSpec("catalog", "service", "created", ServiceCreatedV1)
    service_updated = EventSpec("catalog", "service", "updated", ServiceUpdatedV1)
    offering_published = EventSpec("catalog", "offering", "published", OfferingPublishedV1)

    agreement_activated = EventSpec("agreements", "agreement", "activated", AgreementActivatedV1)
    agreement_ended = EventSpec("agreements", "agreement", "ended", AgreementEndedV1)

    objective_at_risk = EventSpec("measurement", "objective", "at_risk", ObjectiveStatusV1)
    objective_breached = EventSpec("measurement", "objective", "breached", ObjectiveStatusV1)
    objective_recovered = EventSpec("measurement", "objective", "recovered", ObjectiveStatusV1)


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


STREAMS: dict[str, StreamSpec] = {
    producer: StreamSpec(name=f"SLM_{producer.upper()}", subjects=(f"slm.{producer}.>",))
    for producer in ("catalog", "agreements", "measurement", "notifier")
}
