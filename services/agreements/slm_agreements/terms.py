"""The terms an agreement version holds beyond its objectives, as API input, with their pure checks."""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal
from typing import Literal

from dateutil.rrule import rrulestr
from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from slm_shared import calendars
from slm_shared.contracts.payloads import MaintenanceWindowV1, PriceV1, ServiceCreditBandV1, TicketTargetV1
from slm_shared.web.bounds import BoundedDatetime

ReviewCycle = Literal["monthly", "quarterly", "yearly"]
MAX_RRULE = 500


def _zone(name: str) -> str:
    try:
        calendars.check_timezone(name)
    except ValueError as exc:
        raise ValueError(str(exc)) from exc
    return name


class MaintenanceWindow(MaintenanceWindowV1):
    """Planned maintenance the measurement does not count: one-off (start, end) or recurring (rrule)."""

    model_config = ConfigDict(extra="forbid")

    start: BoundedDatetime
    end: BoundedDatetime | None = None
    rrule: str | None = Field(None, max_length=MAX_RRULE, description="RFC 5545 rule, e.g. FREQ=WEEKLY;BYDAY=SU")
    duration_minutes: int | None = Field(None, ge=1, le=7 * 24 * 60)
    timezone: str = Field("UTC", max_length=64)
    reason: str | None = Field(None, max_length=500)

    _check_zone = field_validator("timezone")(_zone)

    @model_validator(mode="after")
    def _one_off_or_recurring(self) -> MaintenanceWindow:
        if self.rrule is None:
            if self.end is None or self.end <= self.start:
                raise ValueError("a one-off window needs an end after its start (or an rrule to recur)")
            if self.duration_minutes is not None:
                raise ValueError("duration_minutes is for recurring windows; a one-off window has an end")
            return self
        if self.end is not None:
            raise ValueError("a recurring window has a duration_minutes, not an end")
        if self.duration_minutes is None:
            raise ValueError("a recurring window needs duration_minutes")
        if "DTSTART" in self.rrule.upper():
            raise ValueError("the rrule starts at `start`; leave DTSTART out")
        try:
            rrulestr(self.rrule, dtstart=self.start.replace(tzinfo=None))
        except (ValueError, TypeError) as exc:
            raise ValueError(f"rrule is not a valid RFC 5545 rule: {exc}") from exc
        return self


class TicketTarget(TicketTargetV1):
    model_config = ConfigDict(extra="forbid")

    response_seconds: int | None = Field(None, gt=0, le=365 * 86400, description="business seconds to respond")
    resolution_seconds: int | None = Field(None, gt=0, le=365 * 86400, description="business seconds to resolve")

    @model_validator(mode="after")
    def _response_before_resolution(self) -> TicketTarget:
        if self.response_seconds is None and self.resolution_seconds is None:
            raise ValueError("give a response time, a resolution time or both")
        if self.response_seconds and self.resolution_seconds and self.response_seconds > self.resolution_seconds:
            raise ValueError("the response time cannot be longer than the resolution time")
        return self


class CreditBand(ServiceCreditBandV1):
    model_config = ConfigDict(extra="forbid")

    below: float = Field(gt=0, le=1, description="the band applies when attainment is below this")
    down_to: float = Field(0.0, ge=0, lt=1, description="and at least this")
    credit_percent: Decimal = Field(gt=0, le=100, max_digits=5, decimal_places=2, description="share of the price")

    @model_validator(mode="after")
    def _band(self) -> CreditBand:
        if self.down_to >= self.below:
            raise ValueError("down_to must be below `below`")
        return self


class Price(PriceV1):
    model_config = ConfigDict(extra="forbid")

    amount: Decimal = Field(ge=0, max_digits=18, decimal_places=4)
    currency: str = Field(pattern=r"^[A-Z]{3}$", description="ISO 4217 code")


class TermsFields(BaseModel):
    """Terms beyond the objectives; every field optional, so the same model serves creation and changes."""

    model_config = ConfigDict(extra="forbid")

    effective_from: BoundedDatetime | None = None
    effective_to: BoundedDatetime | None = None
    review_cycle: ReviewCycle | None = None
    renewal_notice_days: int | None = Field(None, ge=0, le=3650, description="notice to give before the end")
    timezone: str | None = Field(None, max_length=64)
    support_calendar: str | None = Field(None, max_length=64, description="catalogue calendar key; none is 24x7")
    price: Price | None = None
    ticket_targets: list[TicketTarget] | None = Field(None, max_length=4)
    service_credits: list[CreditBand] | None = Field(None, max_length=20)
    maintenance_windows: list[MaintenanceWindow] | None = Field(None, max_length=100)

    @field_validator("timezone")
    @classmethod
    def _check_zone(cls, value: str | None) -> str | None:
        return None if value is None else _zone(value)

    @field_validator("ticket_targets")
    @classmethod
    def _one_per_priority(cls, value: list[TicketTarget] | None) -> list[TicketTarget] | None:
        if value is not None and len({t.priority for t in value}) != len(value):
            raise ValueError("one ticket target per priority")
        return value


def date_problems(
    effective_from: datetime, effective_to: datetime | None, renewal_notice_days: int | None
) -> dict[str, str]:
    """Field to reason for dates that do not fit together."""
    problems: dict[str, str] = {}
    if effective_to is not None and effective_to <= effective_from:
        problems["effective_to"] = "must be after effective_from"
    elif effective_to is not None and (effective_to - effective_from).days < (renewal_notice_days or 0):
        problems["renewal_notice_days"] = "the notice period is longer than the whole term"
    return problems
