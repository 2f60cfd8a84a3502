"""Maintenance windows as a term: the one model and validator agreements and measurement both read.

A recurring window's rule is read per RFC 5545 with DTSTART = `start` in the window's time zone
(occurrences keep their wall-clock time across daylight-saving changes). Because that DTSTART has a
time zone, an `UNTIL` must be a UTC time written with a trailing `Z` (RFC 5545 section 3.3.10).
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

from dateutil.rrule import rrule, rrulestr
from pydantic import ConfigDict, Field, field_validator, model_validator

from slm_shared import calendars
from slm_shared.contracts.payloads import MaintenanceWindowV1
from slm_shared.web.bounds import BoundedDatetime

MAX_RRULE = 500
MAX_DURATION_MINUTES = 7 * 24 * 60


def recurrence(start: datetime, rule: str, timezone: str) -> rrule:
    """The rule's recurrence from `start` in `timezone`; ValueError (with the reason) when it is not valid."""
    if "DTSTART" in rule.upper():
        raise ValueError("the rrule starts at `start`; leave DTSTART out")
    try:
        parsed = rrulestr(rule, dtstart=start.astimezone(ZoneInfo(timezone)))
    except (ValueError, TypeError) as exc:
        if "UNTIL" in str(exc).upper():
            raise ValueError("UNTIL must be a UTC time ending in Z (RFC 5545), e.g. UNTIL=20261231T000000Z") from exc
        raise ValueError(f"rrule is not a valid RFC 5545 rule: {exc}") from exc
    if not isinstance(parsed, rrule):
        raise ValueError("rrule must be a single RRULE, without RDATE or EXDATE")
    return parsed


class MaintenanceWindow(MaintenanceWindowV1):
    """Planned maintenance the measurement does not count: one-off (start, end) or recurring (rrule)."""

    model_config = ConfigDict(extra="forbid")

    start: BoundedDatetime
    end: BoundedDatetime | None = None
    rrule: str | None = Field(None, max_length=MAX_RRULE, description="RFC 5545 rule, e.g. FREQ=WEEKLY;BYDAY=SU")
    duration_minutes: int | None = Field(None, ge=1, le=MAX_DURATION_MINUTES)
    timezone: str = Field("UTC", max_length=64)
    reason: str | None = Field(None, max_length=500)

    @field_validator("timezone")
    @classmethod
    def _zone(cls, value: str) -> str:
        calendars.check_timezone(value)
        return value

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
        recurrence(self.start, self.rrule, self.timezone)
        return self


def problem(window: MaintenanceWindowV1 | dict[str, object]) -> str | None:
    """Why a maintenance window (as sent in an event) is not valid, or None when it is."""
    data = window.model_dump(mode="json") if isinstance(window, MaintenanceWindowV1) else dict(window)
    try:
        MaintenanceWindow.model_validate(data)
    except ValueError as exc:
        errors = getattr(exc, "errors", None)
        if callable(errors):
            return "; ".join(f"{'.'.join(map(str, e['loc'])) or 'window'}: {e['msg']}" for e in errors())
        return str(exc)
    return None
