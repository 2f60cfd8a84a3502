"""An activated version measurement cannot hold to account is announced, never dead-lettered in silence."""

from __future__ import annotations

import uuid

import pytest
from sqlalchemy import select
from ticket_support import activate, outbox, ticket_agreement

from slm_measurement import events as measurement_events
from slm_measurement.models import Objective
from slm_shared.contracts import EVENTS
from slm_shared.db import Database

NOT_MEASURED = "slm.measurement.agreement.not_measured.v1"
AVAILABILITY = {
    "objective_id": "a",
    "indicator": "availability",
    "target": 0.99,
    "window": {"kind": "rolling", "duration": "1d"},
}


@pytest.mark.parametrize(
    ("terms", "field", "says"),
    [
        ({"maintenance_windows": [{"start": "2026-01-04T02:00:00Z", "rrule": "FREQ=WEEKLY;UNTIL=20270101T000000",
                                   "duration_minutes": 60, "timezone": "Europe/Lisbon"}]},
         "maintenance_windows.0", "UNTIL must be a UTC time"),
        ({"credit_schedule": [{"below": 0.9, "down_to": 0.95, "credit_percent": "10"}]}, "credit_schedule.0",
         "down_to must be below"),
        ({"ticket_targets": [{"priority": "P1", "response_seconds": 7200, "resolution_seconds": 3600}]},
         "ticket_targets.0", "response time cannot be longer"),
    ],
)  # fmt: skip
async def test_an_unmeasurable_activation_is_announced_with_the_term_at_fault(
    app_client, terms: dict, field: str, says: str
) -> None:  # type: ignore[no-untyped-def]
    app, _ = app_client
    db: Database = app.state.db
    agreement_id = str(uuid.uuid4())
    fields = {"ticket_targets": [], **terms}
    await activate(
        db,
        ticket_agreement(
            agreement_id=agreement_id, service_key="legacy", party="p", objectives=[AVAILABILITY], **fields
        ),
    )
    [event] = await outbox(db, NOT_MEASURED, agreement_id=agreement_id)
    assert event["version"] == 1 and event["field"] == field and says in event["reason"], event
    async with db.sessionmaker() as session:
        assert (await session.scalars(select(Objective).where(Objective.agreement_id == agreement_id))).all() == []


async def test_a_utc_until_is_measured(app_client) -> None:  # type: ignore[no-untyped-def]
    app, _ = app_client
    db: Database = app.state.db
    agreement_id = str(uuid.uuid4())
    window = {"start": "2026-01-04T02:00:00Z", "rrule": "FREQ=WEEKLY;UNTIL=20270101T000000Z", "duration_minutes": 60,
              "timezone": "Europe/Lisbon"}  # fmt: skip
    await activate(
        db,
        ticket_agreement(
            agreement_id=agreement_id,
            service_key="utc",
            party="p",
            objectives=[AVAILABILITY],
            maintenance_windows=[window],
        ),
    )
    assert await outbox(db, NOT_MEASURED, agreement_id=agreement_id) == []
    async with db.sessionmaker() as session:
        [row] = (await session.scalars(select(Objective).where(Objective.agreement_id == agreement_id))).all()
    assert row.maintenance_windows[0]["rrule"].endswith("Z")


async def test_an_activation_off_its_contract_is_announced_when_it_names_its_version(app_client) -> None:  # type: ignore[no-untyped-def]
    app, _ = app_client
    db: Database = app.state.db
    agreement_id = str(uuid.uuid4())
    good = ticket_agreement(agreement_id=agreement_id, service_key="odd", party="p", objectives=[AVAILABILITY])
    event = EVENTS.agreement_activated.build(tenant="acme", data=good)
    event.data["objectives"][0]["window"] = {"kind": "fortnightly"}
    async with db.session() as session:
        await measurement_events.on_agreement_activated(session, event)
    [refused] = await outbox(db, NOT_MEASURED, agreement_id=agreement_id)
    assert refused["field"] == "objectives.0.window.kind" and "contract" in refused["reason"]
