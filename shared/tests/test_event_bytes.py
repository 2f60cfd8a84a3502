"""What the outbox stores and sends of an event is byte for byte what the validating models give, for every type.

`record_event` encodes headers of printable ASCII without looking at each character, and makes its outbox row
without the model's constructor: the reference is the plain path (`slm_shared.testing.event_reference`), the
comparison the stored columns, on SQLite and PostgreSQL. What the model refuses is refused, with its message.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest
from bus_helpers import service_event
from pydantic import ValidationError
from sqlalchemy import Text, cast, delete, select

from slm_shared.bus import OutboxMessage, record_event
from slm_shared.bus.outbox_row import new_row
from slm_shared.contracts import EVENTS, CloudEvent
from slm_shared.contracts.envelope import TENANT_MAX_LENGTH, EventSpec, InvalidEvent, encode_header
from slm_shared.contracts.payloads import ServiceCreatedV1
from slm_shared.contracts.registry import all_specs
from slm_shared.db import Database
from slm_shared.testing.event_reference import SAMPLE_TEXT, percent_encoded, reference_row, sample_payload

# (tenant, subject): plain, and text every encoding treats apart (percent-encoded headers, escaped JSON)
ATTRIBUTES = [("acme", None), ("Acme Corp ✓ 100%", SAMPLE_TEXT), ("t" * TENANT_MAX_LENGTH, "")]
_STORED = (
    OutboxMessage.event_id,
    OutboxMessage.tenant,
    OutboxMessage.subject,
    OutboxMessage.type,
    cast(OutboxMessage.headers, Text),
    OutboxMessage.body,
)


def test_the_sample_of_every_event_type_fills_every_field() -> None:
    for spec in all_specs():
        payload = sample_payload(spec.payload)
        assert set(payload.model_dump()) == set(spec.payload.model_fields), spec.type
        assert all(value is not None for value in payload.model_dump().values()), spec.type


async def test_every_event_type_is_stored_byte_for_byte_as_through_the_models(db: Database) -> None:
    built: list[tuple[EventSpec[Any], CloudEvent, str, Any, str | None]] = []
    rows: list[OutboxMessage] = []
    async with db.session() as session:
        for spec in all_specs():
            data = sample_payload(spec.payload)
            for tenant, subject in ATTRIBUTES:
                event = record_event(session, spec, tenant=tenant, data=data, subject=subject)
                built.append((spec, event, tenant, data, subject))
        rows = list(session.info["slm_outbox_rows"])
    stored = await _stored(db)
    assert len(stored) == len(built) == 3 * len(all_specs())

    references: list[OutboxMessage] = []
    async with db.session() as session:
        await session.execute(delete(OutboxMessage))
        for spec, event, tenant, data, subject in built:
            reference = reference_row(spec, tenant=tenant, data=data, subject=subject, like=event)
            references.append(reference)
            session.add(reference)
    assert await _stored(db) == stored  # every column as stored: subject, headers (JSON text), body

    for (spec, event, tenant, data, subject), row, reference in zip(built, rows, references, strict=True):
        # the reference copies the event's id and time (`like=event`): hold them to what the model makes its own
        assert CloudEvent.model_validate(event.model_dump()) == event, spec.type
        assert str(uuid.UUID(event.id)) == event.id, spec.type  # a canonical UUID
        assert event.time.tzinfo is UTC, spec.type
        assert list(row.headers.items()) == list(reference.headers.items()), spec.type  # in the same order
        model = CloudEvent(
            id=event.id,
            time=event.time,
            source=event.source,
            type=spec.type,
            subject=subject,
            tenant=tenant,
            data=data.model_dump(mode="json"),
        )
        assert event.model_dump_json() == model.model_dump_json()
        assert event.model_fields_set == {"source", "type", "subject", "tenant", "data"}
        assert event.headers() == model.headers()
        # the row as the ORM and pydantic see it, but its instant of creation
        mine = row.model_dump(exclude={"created_at", "seq"})
        assert mine == reference.model_dump(exclude={"created_at", "seq"})
        assert row.model_fields_set == reference.model_fields_set


async def _stored(db: Database) -> list[tuple[Any, ...]]:
    async with db.session(read_only=True) as session:
        return [tuple(row) for row in await session.execute(select(*_STORED).order_by(OutboxMessage.seq))]


def test_a_header_value_is_encoded_as_before_whatever_its_characters() -> None:
    characters = [chr(code) for code in range(0x250)] + ["\u2028", "✓", "\U0001f600"]
    for ch in characters:
        for value in (ch, f"a{ch}b", f"{ch}{ch}"):
            assert encode_header(value) == percent_encoded(value), repr(value)
    for encode in (encode_header, percent_encoded):  # a lone surrogate has no UTF-8 to percent-encode
        with pytest.raises(UnicodeEncodeError):
            encode("a\ud800")
    assert encode_header("slm.measurement.objective.burn_alert.v1") == "slm.measurement.objective.burn_alert.v1"


def _model_refusal(**attributes: Any) -> str:
    with pytest.raises(ValidationError) as refused:
        CloudEvent(**attributes)
    return str(InvalidEvent(refused.value, what="slm.catalog.service.created.v1 event"))


@pytest.mark.parametrize(
    ("tenant", "subject", "source"),
    [
        ("", None, None),
        ("t" * (TENANT_MAX_LENGTH + 1), None, None),
        ("ac\x00me", None, None),
        ("a\ud800", None, None),
        (5, None, None),
        ("acme", 5, None),
        ("acme", None, 5),
        ("acme", "sub\x00ject", None),  # the model keeps a subject as any text: so does the shorter path
    ],
)
def test_what_the_model_refuses_is_refused_with_its_message(tenant: Any, subject: Any, source: Any) -> None:
    data = service_event("refused")
    attributes = {
        "source": source or "/slm/catalog",
        "type": EVENTS.service_created.type,
        "subject": subject,
        "tenant": tenant,
        "data": data.model_dump(mode="json"),
    }
    try:
        CloudEvent(**attributes)
    except ValidationError:
        expected = _model_refusal(**attributes)
        with pytest.raises(InvalidEvent) as refused:
            EVENTS.service_created.build(tenant=tenant, data=data, subject=subject, source=source)
        assert str(refused.value) == expected
    else:
        event = EVENTS.service_created.build(tenant=tenant, data=data, subject=subject, source=source)
        assert event.subject == subject


def test_a_payload_whose_serialisation_raises_a_validation_error_is_refused_as_an_invalid_event() -> None:
    class Checked(ServiceCreatedV1):
        def model_dump(self, **kwargs: Any) -> dict[str, Any]:  # type: ignore[override]
            ServiceCreatedV1.model_validate({})  # a serializer that validates, and fails
            return super().model_dump(**kwargs)

    spec = EventSpec("catalog", "service", "created", Checked)
    with pytest.raises(InvalidEvent, match=r"invalid slm\.catalog\.service\.created\.v1 event: service_id: Field"):
        spec.build(tenant="acme", data=Checked(service_id="s", key="k", name="K"))


def test_a_row_not_given_a_column_with_a_default_factory_gets_what_the_factory_makes() -> None:
    given = {"event_id": "e-1", "tenant": "acme", "subject": "s", "type": "t", "headers": {}, "body": "{}"}
    before = datetime.now(UTC)
    row, constructed = new_row(**given), OutboxMessage(**given)
    assert before <= row.created_at <= datetime.now(UTC)  # `created_at`: `default_factory=utcnow`
    assert row.model_dump(exclude={"created_at"}) == constructed.model_dump(exclude={"created_at"})
    assert row.model_fields_set == constructed.model_fields_set == set(given)


def test_a_type_out_of_bounds_is_refused_when_built() -> None:
    spec = EventSpec("p" * 250, "service", "created", ServiceCreatedV1)
    with pytest.raises(InvalidEvent, match=r"type: String should have at most 255 characters"):
        spec.build(tenant="acme", data=service_event("long-type"))


def test_a_payload_dumped_with_a_key_the_model_refuses_is_refused() -> None:
    class Keyed(ServiceCreatedV1):
        def model_dump(self, **kwargs: Any) -> dict[Any, Any]:  # type: ignore[override]
            return {**super().model_dump(**kwargs), 1: "not a text key"}

    spec = EventSpec("catalog", "service", "created", Keyed)
    data = Keyed(service_id="s", key="k", name="K")
    with pytest.raises(InvalidEvent, match=r"data\.1\.\[key\]"):
        spec.build(tenant="acme", data=data)
