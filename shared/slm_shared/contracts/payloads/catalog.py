"""Payloads of the events the catalogue publishes. A change to a payload is a new version, never an edit."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any, Literal

from pydantic import BaseModel, Field

from slm_shared.contracts.payloads.common import IndicatorKind, Payload, PriceV1, TargetV1
from slm_shared.terms.openslo_credentials import URL_MAX_LENGTH, VARIABLE_MAX_LENGTH


class TicketTargetV1(BaseModel):
    """Response and resolution times for tickets of one priority, in business seconds."""

    priority: Literal["P1", "P2", "P3", "P4"]
    response_seconds: int | None = None
    resolution_seconds: int | None = None


class ServiceCreditBandV1(BaseModel):
    """A credit owed when attainment falls below `below` and is at least `down_to`."""

    below: float
    down_to: float = 0.0
    credit_percent: Decimal
    indicator: str | None = Field(None, description="the objective's indicator the band covers; none covers all")


class ServiceCreatedV1(Payload):
    service_id: str
    key: str
    name: str
    type: Literal["business", "technical"] = "business"
    lifecycle: Literal["pipeline", "live", "retired"] = "live"
    owner_team: str | None = None
    owner_contact: str | None = None
    tags: list[str] = Field(default_factory=list)


class ServiceUpdatedV1(ServiceCreatedV1):
    pass


class OfferingPublishedV1(Payload):
    offering_id: str
    service_id: str
    service_key: str
    name: str
    version: int
    price: PriceV1 | None = None
    targets: list[TargetV1]
    support_calendar: str | None = Field(None, description="key of the calendar of support hours; none is 24x7")
    ticket_targets: list[TicketTargetV1] = Field(default_factory=list)
    service_credits: list[ServiceCreditBandV1] = Field(default_factory=list)
    supersedes_offering_id: str | None = None


class ServiceRetiredV1(ServiceCreatedV1):
    pass


class OfferingRetiredV1(Payload):
    offering_id: str
    service_id: str
    service_key: str
    name: str
    version: int
    reason: Literal["retired", "superseded"] = "retired"
    successor_offering_id: str | None = None


class IndicatorChangedV1(Payload):
    indicator_id: str
    key: str
    name: str
    kind: IndicatorKind
    unit: str = ""
    clock: Literal["response", "resolution"] | None = None
    version: int = 1


class BusinessHoursV1(BaseModel):
    day: Literal["mon", "tue", "wed", "thu", "fri", "sat", "sun"]
    start: str = Field(description="HH:MM local time")
    end: str = Field(description="HH:MM local time, 24:00 for the end of the day")


class CalendarChangedV1(Payload):
    calendar_id: str
    key: str
    name: str
    timezone: str
    hours: list[BusinessHoursV1]
    holidays: list[date] = Field(default_factory=list)
    country: str | None = None
    subdivision: str | None = None
    version: int = 1


class DependencyChangedV1(Payload):
    service_id: str
    service_key: str
    supporting_service_id: str
    supporting_service_key: str


class OpenSLODataSourceV1(BaseModel):
    name: str = Field(max_length=63)
    type: Literal["prometheus"] = "prometheus"
    url: str = Field(max_length=URL_MAX_LENGTH)
    bearer_token_env: str | None = Field(
        None, max_length=VARIABLE_MAX_LENGTH, description="the variable holding the bearer token (never its value)"
    )
    username_env: str | None = Field(
        None, max_length=VARIABLE_MAX_LENGTH, description="the variable holding the basic-auth user"
    )
    password_env: str | None = Field(
        None,
        max_length=VARIABLE_MAX_LENGTH,
        description="the variable holding the basic-auth password (never its value)",
    )


class OpenSLOSeriesV1(BaseModel):
    service: str = Field(max_length=64)
    indicator: str = Field(max_length=128)
    data_source: str = Field(max_length=63)
    good_query: str | None = Field(None, max_length=4000)
    total_query: str | None = Field(None, max_length=4000)
    value_query: str | None = Field(None, max_length=4000)
    step_seconds: int = Field(60, ge=15, le=3600)


class OpenSLOTargetV1(BaseModel):
    name: str = Field(max_length=200, description="the subscription's name, openslo:<target>:<service>")
    service_key: str
    channel: Literal["webhook", "email", "pagerduty", "slack", "teams"]
    target: dict[str, Any] = Field(description="the target without its credential")
    secret_env: str | None = Field(None, description="the variable holding the credential (never its value)")


class OpenSLOAppliedV1(Payload):
    """OpenSLO documents were applied: the prometheus series to pull and the targets to subscribe to burn alerts."""

    data_sources: list[OpenSLODataSourceV1] = Field(default_factory=list)
    pulled_series: list[OpenSLOSeriesV1] = Field(default_factory=list)
    notification_targets: list[OpenSLOTargetV1] = Field(default_factory=list)


class OpenSLOSeriesKeyV1(BaseModel):
    service: str = Field(max_length=64)
    indicator: str = Field(max_length=128)


class OpenSLORemovedV1(Payload):
    """An OpenSLO document was deleted: the pulled series, subscriptions and data sources only it wired are to stop."""

    kind: str = Field(max_length=64)
    name: str = Field(max_length=63)
    pulled_series: list[OpenSLOSeriesKeyV1] = Field(
        default_factory=list, description="series no remaining document defines: stop pulling, keep what was stored"
    )
    notification_targets: list[str] = Field(
        default_factory=list, description="subscriptions (openslo:<target>:<service>) no remaining document asks for"
    )
    data_sources: list[str] = Field(
        default_factory=list, description="data sources (by name) no remaining document defines: stop querying them"
    )
