"""The reference an outbox row is held to: an event built and stored the plain way, through the validating models.

`record_event` takes a shorter path (headers of printable ASCII not encoded one character at a time, an outbox row
made without its constructor); what it stores and sends must be byte for byte what this path gives, for every
event type. The tests compare the two, and `bench/record_event_bench.py` measures one against the other.
"""

from __future__ import annotations

import json
import types
import typing
import uuid
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from typing import Annotated, Any, Literal, Union, get_args, get_origin
from urllib.parse import quote

from opentelemetry import propagate
from pydantic import BaseModel, TypeAdapter

from slm_shared.bus.models import OutboxMessage
from slm_shared.contracts.envelope import CloudEvent, EventSpec
from slm_shared.db import utcnow

# Text that every encoding step treats differently: a space, `"` and `%` (percent-encoded in headers), non-ASCII
# and a line separator (escaped in JSON bodies).
SAMPLE_TEXT = 'Zürich "east" 100% \u2028 ✓'


def reference_row(
    spec: EventSpec[Any],
    *,
    tenant: str,
    data: BaseModel,
    subject: str | None = None,
    like: CloudEvent | None = None,
) -> OutboxMessage:
    """The outbox row the plain path stores for `data`; with the id and time of `like` (a built event) if given."""
    given: dict[str, Any] = {} if like is None else {"id": like.id, "time": like.time}
    built = CloudEvent(
        **given,
        source=f"/slm/{spec.producer}",
        type=f"slm.{spec.producer}.{spec.entity}.{spec.verb}.v{spec.version}",
        subject=subject,
        tenant=tenant,
        data=data.model_dump(mode="json"),
    )
    attributes = {
        "specversion": built.specversion,
        "id": built.id,
        "source": built.source,
        "type": built.type,
        "time": built.time.isoformat(),
        "tenant": built.tenant,
        "datacontenttype": built.datacontenttype,
    }
    if built.subject:
        attributes["subject"] = built.subject
    headers = {"ce-" + name: percent_encoded(value) for name, value in attributes.items()}
    headers["content-type"] = built.datacontenttype
    propagate.inject(headers)
    return OutboxMessage(
        event_id=built.id,
        tenant=tenant,
        subject=f"slm.{spec.producer}.{spec.entity}.{spec.verb}",
        type=built.type,
        headers=headers,
        body=json.dumps(built.data, separators=(",", ":")),
        created_at=utcnow(),
    )


def percent_encoded(value: str) -> str:
    """A header value as the plain path encodes it: one character at a time (the reference of `encode_header`)."""
    return "".join(ch if "!" <= ch <= "~" and ch not in '"%' else quote(ch, safe="") for ch in value)


def sample_payload(model: type[BaseModel]) -> BaseModel:
    """A payload of `model` with every field given a value of its type (optional ones too), text holding
    `SAMPLE_TEXT`; made without validation (`model_construct`), so a model's own rules need not be met."""
    if not model.__pydantic_complete__:  # a field annotated after its class (resolved at first use otherwise)
        model.model_rebuild()
    return model.model_construct(**{name: _sample(field.annotation) for name, field in model.model_fields.items()})


def _sample(annotation: Any) -> Any:
    origin, args = get_origin(annotation), get_args(annotation)
    if origin is Annotated:
        return _sample(args[0])
    if origin in (Union, types.UnionType):
        return _sample(next(arg for arg in args if arg is not type(None)))
    if origin is Literal:
        return args[-1]
    if origin in (list, set, frozenset, tuple, typing.Sequence):
        return [_sample(args[0] if args else Any)]
    if origin is dict or annotation is dict:
        return {"key " + SAMPLE_TEXT: _sample(args[1] if args else Any)}
    if isinstance(annotation, type):
        if issubclass(annotation, BaseModel):
            return sample_payload(annotation)
        if issubclass(annotation, Enum):
            return next(iter(annotation))
        if issubclass(annotation, bool):
            return True
        if issubclass(annotation, int):
            return 7
        if issubclass(annotation, float):
            return 1e-05  # Python's repr and other JSON writers spell it differently
        if issubclass(annotation, Decimal):
            return Decimal("12.50")
        if issubclass(annotation, str):
            return SAMPLE_TEXT
        if issubclass(annotation, datetime):
            return datetime(2031, 2, 3, 4, 5, 6, 789000, tzinfo=UTC)
        if issubclass(annotation, date):
            return date(2031, 2, 3)
        if issubclass(annotation, time):
            return time(4, 5, 6)
        if issubclass(annotation, timedelta):
            return timedelta(hours=1, seconds=1.5)
        if issubclass(annotation, uuid.UUID):
            return uuid.UUID(int=42)
    if annotation is Any:
        return {"nested": [1, 2.5, SAMPLE_TEXT, None, True]}
    # anything else (URLs, pydantic's datetimes): what its own validator makes of a URL, or of an instant
    adapter: TypeAdapter[Any] = TypeAdapter(annotation)
    try:
        return adapter.validate_python("https://example.com/a%20b")
    except ValueError:
        return adapter.validate_python(datetime(2031, 2, 3, 4, 5, 6, tzinfo=UTC))
