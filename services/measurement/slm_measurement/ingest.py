"""Decoding a batch of points, built for volume (msgspec, no Pydantic), in two shapes.

Rows (a JSON array or NDJSON), one object per point, each one of three kinds:
  {"service", "indicator", "timestamp", "good", "total"}  event counts
  {"service", "indicator", "timestamp", "value"}          a value such as a latency
  {"service", "indicator", "timestamp", "up"}             a probe result (counts as 1 good of 1, or 0 of 1)
with an optional "scope" (e.g. a customer). Columnar (the fastest path), one object of arrays per
series, timestamps in Unix seconds:
  {"series": [{"service", "indicator", "scope", "timestamps": [...], "good": [...], "total": [...]}]}
with "values" or "up" instead of "good"/"total" for the other kinds. Counts and values are finite,
not negative and at most 1e15 (`MAX_COUNT`), so that no stored sum can overflow. A service, indicator or
scope holds no U+0000 (checked here, `_refuse_nul`) and no lone surrogate nor bytes that are not UTF-8 (msgspec
refuses the body, `slm_shared.web.json_guard.unencodable_field` names the field): each is refused naming the field.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Annotated

import msgspec

from slm_shared.contracts.targets import MAX_MEASURED
from slm_shared.errors import BadRequest, FieldError, Unprocessable, field_path
from slm_shared.web.bounds import NUL_REFUSED
from slm_shared.web.json_guard import unencodable_field

Name = Annotated[str, msgspec.Meta(min_length=1, max_length=64)]
Indicator = Annotated[str, msgspec.Meta(min_length=1, max_length=128, pattern=r"^[^#]+$")]  # '#' keys threshold counts
Scope = Annotated[str, msgspec.Meta(max_length=128)]
# Bounded so that no sum of stored points (a minute's, a day's) can overflow to infinity.
MAX_COUNT = MAX_MEASURED
Count = Annotated[float, msgspec.Meta(ge=0, le=MAX_COUNT)]


class Point(msgspec.Struct, forbid_unknown_fields=True):
    """One point: good/total events, a value, or a probe result, of one series at one instant."""

    service: Name
    indicator: Indicator
    timestamp: datetime
    good: Count | None = None
    total: Count | None = None
    value: Count | None = None
    up: bool | None = None
    scope: Scope = ""


class Columns(msgspec.Struct, forbid_unknown_fields=True):
    """The points of one series as arrays: timestamps with good/total, values or up."""

    service: Name
    indicator: Indicator
    timestamps: list[float]
    scope: Scope = ""
    good: list[Count] | None = None
    total: list[Count] | None = None
    values: list[Count] | None = None
    up: list[bool] | None = None


class ColumnarBatch(msgspec.Struct, forbid_unknown_fields=True):
    """A columnar batch: one entry per series."""

    series: list[Columns]


Batch = list[Point] | ColumnarBatch

_ROWS = msgspec.json.Decoder(list[Point])
_ONE = msgspec.json.Decoder(Point)
_COLUMNAR = msgspec.json.Decoder(ColumnarBatch)
_AT = re.compile(r"^(?P<reason>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_NAMED = re.compile(r"(?:missing required field|unknown field) `(?P<name>[^`]+)`")


def _field_error(error: msgspec.ValidationError, prefix: str = "") -> FieldError:
    """Turn msgspec's 'reason - at `$[3].good`' into field '[3].good' and its reason."""
    match = _AT.match(str(error))
    reason = match.group("reason") if match else str(error)
    path = prefix + ((match.group("path") or "") if match else "")
    if named := _NAMED.search(reason):
        path = f"{path}.{named.group('name')}"
    return FieldError(field=path.removeprefix(".") or "body", message=reason, type="invalid")


def _refuse(error: FieldError) -> Unprocessable:
    return Unprocessable(f"The batch was refused, nothing was stored: {error.field}: {error.message}", errors=[error])


def _malformed(document: bytes, error: Exception, *, prefix: tuple[int, ...] = ()) -> Unprocessable | BadRequest:
    """What msgspec refused as malformed: text no column can keep (a lone surrogate, bytes that are not UTF-8),
    a 422 naming its field (in a document of up to `UNENCODABLE_MAX_BYTES`, 256 KiB), else a 400 naming the
    document: `body`, or an NDJSON line as its 422s name it (`prefix`, `[3]`: zero-based, among the lines that are
    not blank)."""
    if unencodable := unencodable_field(document, prefix=prefix):
        return _refuse(unencodable)
    field = field_path(prefix, brackets=True)
    what = "The body" if field == "body" else field
    return BadRequest(
        f"{what} is not valid JSON: {error}",
        errors=[FieldError(field=field, message=f"not valid JSON: {error}", type="json_invalid")],
    )


def decode_batch(body: bytes, *, ndjson: bool) -> Batch:
    """Decode rows (JSON array or NDJSON) or a columnar object; raises a 400/422 naming the field."""
    if ndjson:
        return _decode_ndjson(body)
    columnar = body.lstrip()[:1] == b"{"
    try:
        batch = _COLUMNAR.decode(body) if columnar else _ROWS.decode(body)
    except msgspec.ValidationError as exc:
        raise _refuse(_field_error(exc)) from exc
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise _malformed(body, exc) from exc
    if _MAY_HOLD_NUL in body:
        _refuse_nul(batch)
    return batch


def _decode_ndjson(body: bytes) -> list[Point]:
    """NDJSON's points; an error names a line as `[3]` (`[3].good`), zero-based among the lines that are not blank: the
    index of its point in the batch, as the shared body check names it (`json_guard.body_refusal`)."""
    points: list[Point] = []
    for line in body.splitlines():
        if not line.strip():
            continue
        try:
            points.append(_ONE.decode(line))
        except msgspec.ValidationError as exc:
            raise _refuse(_field_error(exc, prefix=f"[{len(points)}]")) from exc
        except (msgspec.DecodeError, UnicodeDecodeError) as exc:
            raise _malformed(line, exc, prefix=(len(points),)) from exc
    if _MAY_HOLD_NUL in body:
        _refuse_nul(points)
    return points


# JSON text holds U+0000 only escaped, so a body without this escape holds none: the check of each name (a
# pattern in the types) would cost the decoding of a batch of rows about four times its time.
_MAY_HOLD_NUL = b"\\u0000"


def _refuse_nul(batch: Batch) -> None:
    """Refuse a batch whose service, indicator or scope holds U+0000, naming the first such field."""
    items, prefix = (batch.series, "series") if isinstance(batch, ColumnarBatch) else (batch, "")
    for index, item in enumerate(items):
        for name in ("service", "indicator", "scope"):
            if "\x00" in getattr(item, name):
                raise _refuse(FieldError(field=f"{prefix}[{index}].{name}", message=NUL_REFUSED, type="invalid"))


def decode_points(body: bytes, *, ndjson: bool) -> list[Point]:
    """Decode rows only (a JSON array or NDJSON)."""
    batch = decode_batch(body, ndjson=ndjson)
    if isinstance(batch, ColumnarBatch):
        raise _refuse(FieldError(field="body", message="expected an array of points", type="invalid"))
    return batch
