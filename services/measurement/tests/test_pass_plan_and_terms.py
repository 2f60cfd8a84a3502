"""A pass's planning of objectives whose agreement terms are stored: shared where nothing is clipped, read as Core rows.

An objective whose agreement (one version in force, carrying it) counts every range whole shares the
plan of every objective with its terms: nothing clipped, the same ranges read as clipping them would
give. Any other (an agreement starting or ending inside a range, an amendment inside one, a version not
carrying it) keeps its own clipped plan. The agreements' versions are read as Core rows of the columns that decide it.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import event, insert, select, update
from sqlalchemy.dialects import sqlite as sqlite_dialect
from sqlmodel import SQLModel

from slm_measurement import agreed, pass_locks, sqlite_json
from slm_measurement.agreed import Agreed
from slm_measurement.evaluator import objective_ranges
from slm_measurement.models import Objective
from slm_measurement.planning import plan
from slm_measurement.terms import AgreementTerms
from slm_shared.db import Database
from slm_shared.terms.in_force import ActivatedVersion

NOW = datetime(2026, 3, 12, 10, 17, 42, tzinfo=UTC)
EXTENT_START = datetime(2026, 2, 10, 10, 18, tzinfo=UTC)  # a 30-day rolling window's start at NOW


def objective(n: int = 0, **terms: Any) -> Objective:
    defaults: dict[str, Any] = {"maintenance_windows": [], "details": {}, "firing_alerts": []}
    return Objective(
        id=f"row-{n}",
        tenant="acme",
        agreement_id=f"agreement-{n}",
        agreement_version=1,
        agreement_kind="SLA",
        objective_id="availability",
        service_key="api",
        indicator="availability",
        target=0.99 - n * 1e-4,
        window_kind="rolling",
        window_duration="30d",
        **(defaults | terms),
    )


def versions(*spans: tuple[datetime, datetime | None], carries: frozenset[str] | None = None) -> Agreed:
    found = tuple(ActivatedVersion(n, start, start, end) for n, (start, end) in enumerate(spans, start=1))
    return Agreed(versions=found, carries={v.version: carries for v in found})


WHOLE = {
    "in force long before": versions((NOW - timedelta(days=120), None)),
    "from the extent's first minute": versions((EXTENT_START, None)),
    "from within its first minute": versions((EXTENT_START + timedelta(seconds=30), None)),
    "amended before the extent": versions(
        (NOW - timedelta(days=200), NOW - timedelta(days=90)), (NOW - timedelta(days=90), None)
    ),
    "carrying it by name": versions((NOW - timedelta(days=120), None), carries=frozenset({"availability"})),
}
CLIPPED = {
    "in force from inside the window": versions((NOW - timedelta(days=10), None)),
    "from the extent's second minute": versions((EXTENT_START + timedelta(minutes=1), None)),
    "ending before now": versions((NOW - timedelta(days=120), NOW - timedelta(hours=2))),
    "amended inside the window": versions(
        (NOW - timedelta(days=120), NOW - timedelta(days=3)), (NOW - timedelta(days=3), None)
    ),
    "not carrying it": versions((NOW - timedelta(days=120), None), carries=frozenset({"latency"})),
}


@pytest.mark.parametrize("terms", list(WHOLE.values()), ids=list(WHOLE))
def test_an_agreement_counting_every_range_whole_shares_the_plan_and_reads_the_same_ranges(terms: Agreed) -> None:
    own = plan(objective(1), now=NOW, agreed=terms)
    shared = plan(objective(1), now=NOW, agreed=terms, share_whole=True)
    assert shared is plan(objective(2), now=NOW, agreed=versions((NOW - timedelta(days=400), None)), share_whole=True)
    assert shared is plan(objective(3), now=NOW)  # the plan of objectives with no stored terms
    assert shared.counted is None and own.counted is not None
    assert (own.segments, shared.segments) == (None, None)
    assert objective_ranges(objective(1), shared.ranges, shared.excluded, shared.counted) == objective_ranges(
        objective(1), own.ranges, own.excluded, own.counted
    )


@pytest.mark.parametrize("terms", list(CLIPPED.values()), ids=list(CLIPPED))
def test_any_other_agreement_keeps_its_own_clipped_plan(terms: Agreed) -> None:
    shared = plan(objective(1), now=NOW, agreed=terms, share_whole=True)
    assert shared is not plan(objective(3), now=NOW)
    assert shared == plan(objective(1), now=NOW, agreed=terms)


def test_maintenance_left_out_keeps_the_plan_its_own() -> None:
    windows = [{"start": "2026-03-11T13:00:00+00:00", "end": "2026-03-11T14:00:00+00:00"}]
    terms = WHOLE["in force long before"]
    with_maintenance = objective(1, maintenance_windows=windows)
    shared = plan(with_maintenance, now=NOW, agreed=terms, share_whole=True)
    assert shared.excluded and shared == plan(with_maintenance, now=NOW, agreed=terms)


async def test_the_versions_are_read_as_core_rows_and_give_what_the_stored_entities_give(database_url: str) -> None:
    db = Database(database_url)
    try:
        async with db.engine.begin() as connection:
            await connection.run_sync(SQLModel.metadata.create_all)
        start = NOW - timedelta(days=120)
        rows = [
            {
                "tenant": tenant,
                "agreement_id": agreement_id,
                "version": number,
                "name": "Gold",
                "kind": "SLA",
                "service_key": "api",
                "effective_from": start + timedelta(days=10 * number),
                "effective_to": NOW + timedelta(days=30) if number == 2 else None,
                "ended_at": NOW - timedelta(hours=1) if agreement_id == "ended" else None,
                "activated_at": start + timedelta(days=10 * number, minutes=5) if number == 2 else None,
                "ticket_targets": [],
                "credit_schedule": [],
                "payload": {"objectives": [{"objective_id": f"objective-{number}"}]} if number else None,
                "risks": [],
            }
            for tenant, agreement_id, number in [
                ("acme", "amended", 1),
                ("acme", "amended", 2),
                ("acme", "ended", 1),
                ("globex", "amended", 1),  # another tenant's agreement of the same id
            ]
        ]
        async with db.session() as session:
            await session.execute(insert(AgreementTerms), rows)
        wanted = [objective(0), objective(1)]
        wanted[0].agreement_id, wanted[1].agreement_id = "amended", "ended"
        sent: list[str] = []

        def seen(_conn: Any, _cursor: Any, statement: str, *_: Any) -> None:
            sent.append(statement)

        event.listen(db.engine.sync_engine, "before_cursor_execute", seen)
        async with db.sessionmaker() as session:
            found = await agreed.agreed_many(session, wanted)
            event.remove(db.engine.sync_engine, "before_cursor_execute", seen)
            [read] = [statement for statement in sent if "agreement_terms" in statement]
            assert "ticket_targets" not in read and "credit_schedule" not in read, "only what decides the count"
            entities = await session.execute(AgreementTerms.__table__.select())  # type: ignore[attr-defined]
            stored = [AgreementTerms(**row._mapping) for row in entities]
        assert set(found) == {("acme", "amended"), ("acme", "ended")}
        for key, value in found.items():
            expected = agreed.of_rows([r for r in stored if (r.tenant, r.agreement_id) == key])
            assert value == expected
            assert value.payloads == expected.payloads
        async with db.sessionmaker() as session:
            again = await agreed.agreed_many(session, wanted)
        assert all(again[key] is found[key] for key in found), "unchanged versions are worked out once"
        table = AgreementTerms.__table__  # type: ignore[attr-defined]
        async with db.session() as session:  # ended, then one version's payload changed: new values read
            ended = table.c.agreement_id == "ended"
            await session.execute(update(table).where(ended).values(ended_at=NOW - timedelta(minutes=3)))
            amended = (table.c.agreement_id == "amended") & (table.c.version == 2)
            await session.execute(update(table).where(amended).values(payload={"objectives": [{"objective_id": "x"}]}))
        async with db.sessionmaker() as session:
            changed = await agreed.agreed_many(session, wanted)
            entities = await session.execute(table.select().where(table.c.tenant == "acme"))
            stored = [AgreementTerms(**row._mapping) for row in entities]
        for key, value in changed.items():
            expected = agreed.of_rows([r for r in stored if (r.tenant, r.agreement_id) == key])
            assert value is not found[key] and value == expected and value.payloads == expected.payloads
        assert changed["acme", "amended"].carries[2] == {"x"}
    finally:
        await db.dispose()


ODD_IDS = ["plain", 'it\'s "quoted"', "ünïcödé-✓", "back\\slash", "comma, [bracket]", ""]


async def test_the_passes_read_exactly_the_rows_whose_ids_they_bind_whatever_the_ids(database_url: str) -> None:
    """The lock and terms reads bind their id lists (on SQLite as one JSON text): odd ids, none, and NOT IN."""
    db = Database(database_url)
    try:
        async with db.engine.begin() as connection:
            await connection.run_sync(SQLModel.metadata.create_all)
        async with db.session() as session:
            rows = [objective(n) for n in range(len(ODD_IDS))]
            for row, odd in zip(rows, ODD_IDS, strict=True):
                row.id = row.agreement_id = odd
            session.add_all(rows)
            await session.flush()
            activated = datetime(2026, 1, 1, tzinfo=UTC)
            await session.execute(
                insert(AgreementTerms),
                [
                    {
                        "id": f"terms-{n}",
                        "tenant": "acme",
                        "agreement_id": odd,
                        "version": 1,
                        "name": "Gold",
                        "kind": "SLA",
                        "service_key": "api",
                        "effective_from": activated,
                        "activated_at": activated,
                        "ticket_targets": [],
                        "credit_schedule": [],
                        "risks": [],
                        "payload": {"objectives": [{"objective_id": "availability"}]},
                    }
                    for n, odd in enumerate(ODD_IDS)
                ],
            )
        wanted = [*ODD_IDS[1:4], "absent"]
        async with db.session() as session:
            locked = await pass_locks.lock_due_objectives(session, objective_row_ids=wanted, stale_before=activated)
            assert sorted(o.id for o in locked) == sorted(ODD_IDS[1:4])
            assert await pass_locks.lock_due_objectives(session, objective_row_ids=[], stale_before=activated) == []
            flagged = await pass_locks.lock_flagged_objectives(session, limit=100, done=ODD_IDS[:2])
            assert sorted(o.id for o in flagged) == sorted(ODD_IDS[2:])
            everything = await pass_locks.lock_flagged_objectives(session, limit=100, done=[])
            assert sorted(o.id for o in everything) == sorted(ODD_IDS)
            known = await agreed.agreed_many(session, locked)
            assert sorted(agreement for _, agreement in known) == sorted(ODD_IDS[1:4])
            assert await agreed.agreed_many(session, []) == {}
    finally:
        await db.dispose()


def test_an_id_list_holding_u0000_is_refused_rather_than_cut_short() -> None:
    """SQLite's json_each ends a string at U+0000: such an id would match another row or none."""
    with pytest.raises(ValueError, match="U\\+0000"):
        sqlite_json._JSONList().process_bind_param(["a", "a\x00b"], sqlite_dialect.dialect())


async def test_a_locked_row_reads_as_the_stored_entity_its_instants_parsed_once(database_url: str) -> None:
    """The lock's plain rows (on SQLite their instants through `SQLiteInstant`) hold what the entities hold."""
    db = Database(database_url)
    try:
        async with db.engine.begin() as connection:
            await connection.run_sync(SQLModel.metadata.create_all)
        instants = [NOW, NOW.replace(microsecond=0), NOW - timedelta(days=400), None]
        async with db.session() as session:
            for n, start in enumerate(instants):
                end = None if start is None else start + timedelta(days=n, seconds=n)
                session.add(objective(n, effective_from=start, effective_to=end))
            session.add(objective(len(instants), effective_from=NOW))  # an instant another row holds too
        ids = [f"row-{n}" for n in range(len(instants) + 1)]
        async with db.session() as session:
            locked = await pass_locks.lock_due_objectives(session, objective_row_ids=ids, stale_before=NOW)
            entities = {o.id: o for o in (await session.scalars(select(Objective))).all()}
        assert len(locked) == len(ids)
        for row in locked:
            stored = entities[row.id]
            assert repr((row.effective_from, row.effective_to)) == repr((stored.effective_from, stored.effective_to))
        if db.engine.dialect.name == "sqlite":  # one text, one parse: the rows share the datetime
            assert locked[0].effective_from is locked[-1].effective_from
    finally:
        await db.dispose()
