"""CloudEvents 1.0 envelope, carried in binary mode: attributes in NATS headers, data as JSON."""

from __future__ import annotations

import builtins
import json
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Generic, TypeVar
from urllib.parse import quote, unquote

from pydantic import BaseModel, ConfigDict, Field

P = TypeVar("P", bound=BaseModel)

SPEC_VERSION = "1.0"
JSON = "application/json"
HEADER_PREFIX = "ce-"


def encode_header(value: str) -> str:
    """Percent-encode a header value as the CloudEvents bindings ask: space, `"`, `%` and all but printable ASCII."""
    return "".join(ch if "!" <= ch <= "~" and ch not in '"%' else quote(ch, safe="") for ch in value)


class CloudEvent(BaseModel):
    """A CloudEvents 1.0 event with the `tenant` extension; `data` is the payload as a dict."""

    model_config = ConfigDict(frozen=True)

    id: str = Field(default_factory=lambda: str(uuid.uuid4()))
    source: str
    type: str
    subject: str | None = None
    time: datetime = Field(default_factory=lambda: datetime.now(UTC))
    datacontenttype: str = JSON
    specversion: str = SPEC_VERSION
    tenant: str
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
        """Rebuild an event from NATS headers and a JSON body; raises ValueError if malformed."""
        headers = headers or {}
        attrs: dict[str, Any] = {
            key[len(HEADER_PREFIX) :].lower(): unquote(value)
            for key, value in headers.items()
            if key.lower().startswith(HEADER_PREFIX)
        }
        attrs.setdefault("datacontenttype", headers.get("content-type", JSON))
        attrs["data"] = json.loads(body) if body else {}
        if not isinstance(attrs["data"], dict):
            raise ValueError("event data must be a JSON object")
        return cls.model_validate(attrs)

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

    @property
    def type(self) -> str:
        return f"slm.{self.producer}.{self.entity}.{self.verb}.v{self.version}"

    @property
    def subject(self) -> str:
        return f"slm.{self.producer}.{self.entity}.{self.verb}"

    def build(self, *, tenant: str, data: P, subject: str | None = None, source: str | None = None) -> CloudEvent:
        """Wrap a payload in an envelope."""
        return CloudEvent(
            source=source or f"/slm/{self.producer}",
            type=self.type,
            subject=subject,
            tenant=tenant,
            data=data.model_dump(mode="json"),
        )
