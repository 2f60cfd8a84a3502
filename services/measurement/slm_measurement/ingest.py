"""Decoding and checking a batch of event-count points, built for volume (msgspec, no Pydantic)."""

from __future__ import annotations

import math
import re
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Annotated

import msgspec

from slm_measurement.windows import DAY, HOUR, MINUTE
from slm_shared.errors import BadRequest, FieldError, Unprocessable

MAX_ERRORS = 50
Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Count = Annotated[float, msgspec.Meta(ge=0)]


class Point(msgspec.Struct, forbid_unknown_fields=True):
    """Good and total events of one series at one instant."""

    service: Name
    indicator: Annotated[str, msgspec.Meta(min_length=1, max_length=128)]
    timestamp: datetime
    good: Count
    total: Count
    scope: Annotated[str, msgspec.Meta(max_length=128)] = ""


_ARRAY = msgspec.json.Decoder(list[Point])
_ONE = msgspec.json.Decoder(Point)
_AT = re.compile(r"^(?P<reason>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_NAMED = re.compile(r"(?:missing required field|unknown field) `(?P<name>[^`]+)`")


def _field_error(error: msgspec.ValidationError, prefix: str = "") -> FieldError:
    """Turn msgspec's 'reason - at `$[3].good`' into field '[3].good' and its reason."""
    match = _AT.match(str(error))
    reason = match.group("reason") if match else str(error)
    path = prefix + ((match.group("path") or "") if match else "")
    if named := _NAMED.search(reason):
        path = f"{path}.{named.group('name')}"
    return FieldError(field=path or "body", message=reason, type="invalid")


def decode_points(body: bytes, *, ndjson: bool) -> list[Point]:
    """Decode a JSON array or NDJSON lines of points; raises a 400/422 naming the field."""
    if not ndjson:
        try:
            return _ARRAY.decode(body)
        except msgspec.ValidationError as exc:
            error = _field_error(exc)
            raise Unprocessable(f"{error.field}: {error.message}", errors=[error]) from exc
        except msgspec.DecodeError as exc:
            raise BadRequest(f"The body is not valid JSON: {exc}") from exc
    points: list[Point] = []
    for number, line in enumerate(body.splitlines()):
        if not line.strip():
            continue
        index = len(points)
        try:
            points.append(_ONE.decode(line))
        except msgspec.ValidationError as exc:
            error = _field_error(exc, prefix=f"[{index}]")
            raise Unprocessable(f"{error.field}: {error.message}", errors=[error]) from exc
        except msgspec.DecodeError as exc:
            raise BadRequest(f"Line {number + 1} is not valid JSON: {exc}") from exc
    return points


def check_points(points: list[Point], *, now: datetime, max_lateness: timedelta, max_future: timedelta) -> None:
    """Refuse the whole batch if any point is inconsistent, too late or too far ahead."""
    errors: list[FieldError] = []
    oldest, newest = now - max_lateness, now + max_future
    for index, point in enumerate(points):
        if len(errors) >= MAX_ERRORS:
            break
        if not (math.isfinite(point.good) and math.isfinite(point.total)):
            errors.append(FieldError(field=f"[{index}].total", message="counts must be finite", type="value_error"))
        elif point.good > point.total:
            errors.append(FieldError(field=f"[{index}].good", message="good must not exceed total", type="value_error"))
        stamp = point.timestamp
        if stamp.tzinfo is None:
            errors.append(
                FieldError(
                    field=f"[{index}].timestamp",
                    message="an RFC 3339 timestamp with a UTC offset is required",
                    type="value_error",
                )
            )
        elif stamp < oldest:
            errors.append(
                FieldError(
                    field=f"[{index}].timestamp",
                    message=f"older than the lateness limit of {int(max_lateness.total_seconds())} s",
                    type="too_late",
                )
            )
        elif stamp > newest:
            errors.append(
                FieldError(
                    field=f"[{index}].timestamp",
                    message=f"more than {int(max_future.total_seconds())} s in the future",
                    type="too_early",
                )
            )
    if errors:
        shown = "; ".join(f"{e.field}: {e.message}" for e in errors[:5])
        raise Unprocessable(f"The batch was refused, nothing was stored: {shown}", errors=errors)


SeriesKey = tuple[str, str, str, int]


@dataclass
class Rollup:
    """Summed good and total per (service, indicator, scope, bucket) for each granularity."""

    minutes: dict[SeriesKey, list[float]]
    hours: dict[SeriesKey, list[float]]
    days: dict[SeriesKey, list[float]]

    def series(self) -> set[tuple[str, str]]:
        """The (service, indicator) pairs the batch touched."""
        return {(service, indicator) for service, indicator, _, _ in self.days}


def roll_up(points: list[Point]) -> Rollup:
    """Sum the points into minute, hour and day buckets in one pass."""
    minutes: dict[SeriesKey, list[float]] = defaultdict(lambda: [0.0, 0.0])
    hours: dict[SeriesKey, list[float]] = defaultdict(lambda: [0.0, 0.0])
    days: dict[SeriesKey, list[float]] = defaultdict(lambda: [0.0, 0.0])
    for point in points:
        second = int(point.timestamp.timestamp())
        for target, size in ((minutes, MINUTE), (hours, HOUR), (days, DAY)):
            sums = target[(point.service, point.indicator, point.scope, second // size)]
            sums[0] += point.good
            sums[1] += point.total
    return Rollup(dict(minutes), dict(hours), dict(days))
