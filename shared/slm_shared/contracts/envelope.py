"""CloudEvents 1.0 envelope, carried in binary mode: attributes in NATS headers, data as JSON."""

from __future__ import annotations

import builtins
import json
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import cached_property
from typing import Annotated, Any, Generic, TypeVar
from urllib.parse import quote, unquote

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, ValidationError

from slm_shared.web.bounds import storable, text_refusal

P = TypeVar("P", bound=BaseModel)

SPEC_VERSION = "1.0"
JSON = "application/json"
HEADER_PREFIX = "ce-"

# The bounds of the attributes the outbox, the inbox and the dead letters keep in columns of these lengths
# (`slm_shared.bus.models`): an event that breaks one is refused when built and when received, never stored.
EVENT_ID_MAX_LENGTH = 64
EVENT_TYPE_MAX_LENGTH = 255
TENANT_MAX_LENGTH = 64

# An id, type or tenant holding U+0000 is refused like one too long: no column (PostgreSQL's text) can keep it.
_Stored = AfterValidator(storable)


def tenant_refusal(tenant: str) -> str | None:
    """Why no event can carry `tenant` (`CloudEvent` refuses it: empty, longer than `TENANT_MAX_LENGTH`, or text no
    column keeps), or None if one can. What a token's tenant is checked against, and a stored row's before a
    periodic job builds its event."""
    return "is empty" if not tenant else text_refusal(tenant, TENANT_MAX_LENGTH)


def type_refusal(event_type: str) -> str | None:
    """Why no event can have `event_type` as its type (`CloudEvent` refuses it: empty, longer than
    `EVENT_TYPE_MAX_LENGTH`, or text no column keeps), or None if one can."""
    return "is empty" if not event_type else text_refusal(event_type, EVENT_TYPE_MAX_LENGTH)


class InvalidEvent(ValueError):
    """An envelope whose attributes break the CloudEvents model (`CloudEvent`): the message names each one."""

    def __init__(self, error: ValidationError, *, what: str = "event") -> None:
        self.fields = [".".join(str(part) for part in e["loc"]) or "event" for e in error.errors()]
        reasons = "; ".join(f"{field}: {e['msg']}" for field, e in zip(self.fields, error.errors(), strict=True))
        super().__init__(f"invalid {what}: {reasons}")


def attributes_of(headers: Mapping[str, str] | None) -> dict[str, str]:
    """A message's CloudEvent attributes as its `ce-` headers carry them, by name: keys in any case, values
    percent-decoded. What `CloudEvent.from_message` reads, and what names a message it refuses (a dead letter)."""
    return {
        key[len(HEADER_PREFIX) :].lower(): unquote(value)
        for key, value in (headers or {}).items()
        if key.lower().startswith(HEADER_PREFIX)
    }


def encode_header(value: str) -> str:
    """Percent-encode a header value as the CloudEvents bindings ask: space, `"`, `%` and all but printable ASCII."""
    # Most values (ids, types, times, tenants) need none: printable ASCII is U+0020 to U+007E, less the space.
    if value.isascii() and value.isprintable() and " " not in value and '"' not in value and "%" not in value:
        return value
    return "".join(ch if "!" <= ch <= "~" and ch not in '"%' else quote(ch, safe="") for ch in value)


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 event with the `tenant` extension; `data` is the payload as a dict."""

    model_config = ConfigDict(frozen=True)

    id: Annotated[str, _Stored] = Field(
        default_factory=lambda: str(uuid.uuid4()), min_length=1, max_length=EVENT_ID_MAX_LENGTH
    )
    source: str
    type: Annotated[str, _Stored] = Field(min_length=1, max_length=EVENT_TYPE_MAX_LENGTH)
    subject: str | None = None
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    datacontenttype: str = JSON
    specversion: str = SPEC_VERSION
    tenant: Annotated[str, _Stored] = Field(min_length=1, max_length=TENANT_MAX_LENGTH)
    data: dict[str, Any] = Field(default_factory=dict)

    def headers(self) -> dict[str, str]:
        """The binary-mode NATS headers for this event."""
        attributes = {
            "specversion": self.specversion,
            "id": self.id,
            "source": self.source,
            "type": self.type,
            "time": self.time.isoformat(),
            "tenant": self.tenant,
            "datacontenttype": self.datacontenttype,
        }
        if self.subject:
            attributes["subject"] = self.subject
        headers = {HEADER_PREFIX + name: encode_header(value) for name, value in attributes.items()}
        headers["content-type"] = self.datacontenttype
        return headers

    @classmethod
    def from_message(cls, headers: dict[str, str] | None, body: bytes) -> CloudEvent:
        """Rebuild an event from NATS headers and a JSON body; raises ValueError if malformed (`InvalidEvent`
        naming the attributes when one breaks the model: a missing one, an id or tenant longer than its column or
        holding U+0000)."""
        headers = headers or {}
        attrs: dict[str, Any] = attributes_of(headers)
        attrs.setdefault("datacontenttype", headers.get("content-type", JSON))
        attrs["data"] = json.loads(body) if body else {}
        if not isinstance(attrs["data"], dict):
            raise ValueError("event data must be a JSON object")
        errors: list[Any] = []
        try:
            event = cls.model_validate(attrs)
        except ValidationError as exc:
            errors = list(exc.errors())
        if "id" not in attrs:  # the default is for an event built here: one received names its own, or is refused
            errors.insert(0, {"type": "missing", "loc": ("id",), "input": attrs})
        if errors:
            raise InvalidEvent(ValidationError.from_exception_data(cls.__name__, errors)) from None
        return event

    def payload(self, model: builtins.type[P]) -> P:
        """Validate `data` as the given payload model."""
        return model.model_validate(self.data)


@dataclass(frozen=True)
class EventSpec(Generic[P]):
    """One versioned event type: who produces it, its subject and its payload model."""

    producer: str
    entity: str
    verb: str
    payload: type[P]
    version: int = 1

    @cached_property
    def type(self) -> str:
        return f"slm.{self.producer}.{self.entity}.{self.verb}.v{self.version}"

    @cached_property
    def subject(self) -> str:
        return f"slm.{self.producer}.{self.entity}.{self.verb}"

    @cached_property
    def source(self) -> str:
        """The `source` of the events this producer builds, unless one is named."""
        return f"/slm/{self.producer}"

    def build(self, *, tenant: str, data: P, subject: str | None = None, source: str | None = None) -> CloudEvent:
        """Wrap a payload in an envelope; raises `InvalidEvent` if an attribute breaks the model (a tenant too long)
        or the payload's serialisation raises a `ValidationError`."""
        try:
            return CloudEvent(
                source=source or self.source,
                type=self.type,
                subject=subject,
                tenant=tenant,
                data=data.model_dump(mode="json"),
            )
        except ValidationError as exc:
            raise InvalidEvent(exc, what=f"{self.type} event") from None
