"""Calendar API models, and their conversion to the pure business-time calendar."""

from __future__ import annotations

from datetime import date, datetime
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field, field_validator, model_validator

from slm_catalog.common import Slug
from slm_shared import calendars
from slm_shared.contracts.payloads import BusinessHoursV1


class BusinessHoursIn(BusinessHoursV1):
    model_config = ConfigDict(extra="forbid")

    @model_validator(mode="after")
    def _valid_span(self) -> BusinessHoursIn:
        calendars.hours_on(self.day, self.start, self.end)
        return self


class Holiday(BaseModel):
    model_config = ConfigDict(extra="forbid")

    date: date
    name: str = Field("", max_length=200)


class CalendarFields(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=200)
    timezone: str = Field("UTC", max_length=64, description="IANA time zone, e.g. Europe/Lisbon")
    hours: list[BusinessHoursIn] = Field(min_length=1, max_length=100)
    holidays: list[Holiday] = Field(default_factory=list, max_length=1000)
    country: str | None = Field(None, pattern=r"^[A-Z]{2,3}$", description="ISO country for public holidays")
    subdivision: str | None = Field(None, max_length=16)

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, value: str) -> str:
        calendars.check_timezone(value)
        return value


class CalendarCreate(CalendarFields):
    key: Slug


class CalendarPublic(CalendarCreate):
    model_config = ConfigDict(extra="ignore")

    id: str | None
    builtin: bool = False
    version: int


class BusinessTimeQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: AwareDatetime
    end: AwareDatetime


class BusinessTime(BaseModel):
    seconds: float
    hours: float


class DeadlineQuery(BaseModel):
    model_config = ConfigDict(extra="forbid")

    start: AwareDatetime
    seconds: float = Field(ge=0, le=10 * 365 * 86400)


class Deadline(BaseModel):
    deadline: datetime


def to_calendar(document: dict[str, Any]) -> calendars.Calendar:
    """The pure calendar for a stored or posted calendar document."""
    return calendars.Calendar(
        timezone=document.get("timezone") or "UTC",
        hours=tuple(calendars.hours_on(h["day"], h["start"], h["end"]) for h in document["hours"]),
        holidays=frozenset(date.fromisoformat(str(h["date"])) for h in document.get("holidays") or ()),
        country=document.get("country"),
        subdivision=document.get("subdivision"),
    )


ALWAYS_DOCUMENT: dict[str, Any] = {
    "id": None,
    "key": "24x7",
    "name": "Around the clock",
    "timezone": "UTC",
    "hours": [{"day": day, "start": "00:00", "end": "24:00"} for day in calendars.DAYS],
    "holidays": [],
    "country": None,
    "subdivision": None,
    "builtin": True,
    "version": 1,
}
