"""The `at`, `start` and `end` query parameters of the as-of reads, checked at the edge."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated

from fastapi import Query, Request

from slm_measurement.working import InstantError, checked_instant
from slm_shared.db import utcnow
from slm_shared.errors import FieldError, Unprocessable

AtQuery = Annotated[
    datetime | None,
    Query(description="evaluate as of this instant (ISO 8601; naive is UTC), from stored data; default: now"),
]
StartQuery = Annotated[datetime | None, Query(description="start of a period to evaluate instead of the window")]
EndQuery = Annotated[datetime | None, Query(description="end (excluded) of that period; at most 400 days after start")]


def refused(error: InstantError) -> Unprocessable:
    """The 422 for an instant or period that cannot be evaluated, naming its parameter."""
    return Unprocessable(f"{error.field}: {error}", errors=[FieldError(field=error.field, message=str(error))])


def checked(request: Request, field: str, instant: datetime | None, *, now: datetime) -> datetime | None:
    """The instant in UTC, bounded by 1970 and now + the ingest's max future; 422 naming `field` if not."""
    if instant is None:
        return None
    max_future = timedelta(seconds=request.app.state.settings.max_future_seconds)
    try:
        return checked_instant(field, instant, now=now, max_future=max_future)
    except InstantError as exc:
        raise refused(exc) from exc


def required(request: Request, field: str, instant: datetime, *, now: datetime) -> datetime:
    """A required instant, checked like `checked`."""
    return checked(request, field, instant, now=now) or instant


def as_of(request: Request, at: datetime | None) -> datetime:
    """`at` checked, or now."""
    now = utcnow()
    return checked(request, "at", at, now=now) or now
