"""The event types a subscription may name, published so that nobody has to guess them."""

from __future__ import annotations

from fastapi import APIRouter
from pydantic import BaseModel, Field

from slm_notifier.matching import DELIVERABLE_TYPES, TEST_EVENT_TYPE, severities_of
from slm_shared.contracts.registry import spec_for_type
from slm_shared.errors import PROBLEM_RESPONSES
from slm_shared.web.deps import StaffDep

router = APIRouter(prefix="/v1", tags=["notifier"], responses=PROBLEM_RESPONSES)


class EventTypePublic(BaseModel):
    type: str = Field(description="the CloudEvents type a subscription's event_types may name (or match by pattern)")
    producer: str
    description: str
    severity: str | None = Field(
        description="the severity every event of this type is sent with; null when it varies per event"
    )
    severities: list[str] = Field(description="every severity events of this type are sent with (filters compare it)")
    payload_schema: dict[str, object] | None = Field(description="JSON Schema of the event's data")


class EventTypeList(BaseModel):
    items: list[EventTypePublic]


def event_types() -> list[EventTypePublic]:
    """Every deliverable event type with its producer, meaning and payload schema."""
    listed = []
    for event_type in DELIVERABLE_TYPES:
        spec = spec_for_type(event_type)
        if spec is None:  # the notifier's own test event
            listed.append(
                EventTypePublic(
                    type=TEST_EVENT_TYPE,
                    producer="notifier",
                    description="A test delivery sent on request to check a subscription's target.",
                    severity="info",
                    severities=["info"],
                    payload_schema=None,
                )
            )
            continue
        doc = (spec.payload.__doc__ or "").strip().splitlines()
        listed.append(
            EventTypePublic(
                type=event_type,
                producer=spec.producer,
                description=f"{spec.entity} {spec.verb.replace('_', ' ')}" + (f": {doc[0]}" if doc else ""),
                severity=found[0] if len(found := severities_of(event_type)) == 1 else None,
                severities=found,
                payload_schema=spec.payload.model_json_schema(),
            )
        )
    return listed


@router.get("/event-types", response_model=EventTypeList)
async def list_event_types(principal: StaffDep) -> EventTypeList:
    """The event types a subscription may name; patterns such as `slm.measurement.objective.*` match among these."""
    return EventTypeList(items=event_types())
