"""Improvement actions in the reports follow the agreements service's created/updated/overdue events."""

from __future__ import annotations

from datetime import date

from slm_measurement import events as measurement_events
from slm_measurement import terms
from slm_shared import migrations
from slm_shared.contracts import EVENTS
from slm_shared.contracts.payloads import ImprovementActionV1
from slm_shared.db import Database

ACTION = ImprovementActionV1(
    action_id="act-1",
    agreement_id="agr-1",
    service_key="payments",
    title="Add a second database replica",
    owner="ops",
    due_on=date(2025, 7, 15),
    status="open",
    source="breach",
)


async def open_actions(db: Database) -> list[tuple[str, str, bool]]:
    async with db.session() as session:
        rows = await terms.open_actions(session, tenant="acme", agreement_id="agr-1")
        return [(row.due_on, row.status, bool(row.overdue)) for row in rows]


async def test_updates_move_the_due_date_and_close_actions(database_url: str) -> None:
    await migrations.upgrade("slm_measurement", database_url)
    db = Database(database_url)
    try:
        async with db.session() as session:
            await measurement_events.on_action_created(session, EVENTS.action_created.build(tenant="acme", data=ACTION))
            await measurement_events.on_action_overdue(session, EVENTS.action_overdue.build(tenant="acme", data=ACTION))
        assert await open_actions(db) == [("2025-07-15", "open", True)]

        renamed = ACTION.model_copy(update={"owner": "dba", "status": "in_progress"})
        async with db.session() as session:
            await measurement_events.on_action_updated(
                session, EVENTS.action_updated.build(tenant="acme", data=renamed)
            )
        assert await open_actions(db) == [("2025-07-15", "in_progress", True)]  # same due date: still overdue

        moved = renamed.model_copy(update={"due_on": date(2025, 8, 1)})
        async with db.session() as session:
            await measurement_events.on_action_updated(session, EVENTS.action_updated.build(tenant="acme", data=moved))
        assert await open_actions(db) == [("2025-08-01", "in_progress", False)]

        done = moved.model_copy(update={"status": "done"})
        async with db.session() as session:
            await measurement_events.on_action_updated(session, EVENTS.action_updated.build(tenant="acme", data=done))
        assert await open_actions(db) == []
    finally:
        await db.dispose()


async def test_an_older_revision_arriving_late_changes_nothing(database_url: str) -> None:
    await migrations.upgrade("slm_measurement", database_url)
    db = Database(database_url)
    try:
        done = ACTION.model_copy(update={"status": "done", "revision": 3, "change_ref": "CHG0030001"})
        earlier = ACTION.model_copy(update={"status": "in_progress", "revision": 2})
        async with db.session() as session:
            await measurement_events.on_action_updated(session, EVENTS.action_updated.build(tenant="acme", data=done))
        async with db.session() as session:  # redelivered after the later one
            await measurement_events.on_action_updated(
                session, EVENTS.action_updated.build(tenant="acme", data=earlier)
            )
        assert await open_actions(db) == []  # still done
        async with db.session() as session:
            row = await session.get(terms.ImprovementAction, ("acme", "act-1"))
            assert row is not None and (row.status, row.revision, row.change_ref) == ("done", 3, "CHG0030001")
    finally:
        await db.dispose()
