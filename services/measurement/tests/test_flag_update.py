"""The flag update of a REST ingest: the JSON of an objective left to the worker is never decoded.

On SQLite a due objective's agreement's stored versions come back with its row, read by the same statement: what
the evaluation pass reads of them in a statement of its own (`agreed.agreed_many`) later in the same transaction, the
writer's turn held since BEGIN IMMEDIATE. On PostgreSQL they do not (`flag_terms` says why; the race is
`test_ingest_terms.py`'s).

A busy series' objectives were evaluated moments ago and are left to the worker. On PostgreSQL, whose
driver decodes every JSON value it receives, their rows come back from the flag update with NULL in
place of every evaluated column (`CASE WHEN due`); on SQLite their JSON comes back as text, decoded
only for the objectives evaluated inline.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert

from slm_measurement import agreed, flagging
from slm_measurement.models import Objective
from slm_measurement.terms import AgreementTerms
from slm_shared.db import Database

OBSERVED = [{"start": "2026-11-01T00:00:00Z", "end": "2026-11-01T00:05:00Z"}]


def _objective(
    agreement_id: str, *, evaluated_at: datetime | None, tenant: str = "acme", objective_id: str = "o"
) -> Objective:
    return Objective(
        tenant=tenant,
        agreement_id=agreement_id,
        agreement_version=1,
        agreement_kind="sla",
        objective_id=objective_id,
        service_key="busy",
        indicator="availability",
        target=0.99,
        window_kind="rolling",
        window_duration="30d",
        evaluated_at=evaluated_at,
        observed=OBSERVED,
    )


async def test_only_the_due_rows_come_back_with_their_columns(db: Database) -> None:
    now = datetime.now(UTC)
    async with db.session() as session:
        session.add_all(
            [
                _objective("evaluated-now", evaluated_at=now),
                _objective("evaluated-before", evaluated_at=now - timedelta(hours=2)),
            ]
        )

    async with db.session() as session:
        flagged = await flagging.flag_series_for_evaluation(
            session,
            tenant="acme",
            series={("busy", "availability")},
            evaluated_before=now - timedelta(hours=1),
            read=True,
        )
        [due] = [f for f in flagged if f.due]
        [left] = [f for f in flagged if not f.due]
        assert left.row is not None
        if db.engine.dialect.name == "postgresql":  # its driver decodes all JSON it receives: none is sent
            assert set(left.row) == {None}
        else:  # SQLite's JSON comes as text, decoded only for the rows evaluated inline
            observed = left.row[flagging._EVALUATED_COLUMNS.index(flagging.OBJECTIVES.c.observed)]
            assert isinstance(observed, str) and json.loads(observed) == OBSERVED
            assert not any(isinstance(left.row[at], list | dict) for at in flagging._JSON_AT)
        [row] = flagging.rows_of(session, [due])
    assert (row.id, row.agreement_id, row.target, row.observed) == (due.id, "evaluated-before", 0.99, OBSERVED)


async def test_an_objective_never_evaluated_is_due(db: Database) -> None:
    """Due with its batch on both databases (SQLite 3.40 reads `IS NULL` of a NULL column as false in RETURNING)."""
    async with db.session() as session:
        session.add(_objective("never", evaluated_at=None))

    async with db.session() as session:
        [flagged] = await flagging.flag_series_for_evaluation(
            session,
            tenant="acme",
            series={("busy", "availability")},
            evaluated_before=datetime.now(UTC) - timedelta(hours=1),
            read=True,
        )
        assert flagged.due
        [row] = flagging.rows_of(session, [flagged])
    assert (row.agreement_id, row.observed) == ("never", OBSERVED)


def _terms(tenant: str, agreement_id: str, version: int, **columns: Any) -> dict[str, Any]:
    start = datetime(2026, 1, 1, tzinfo=UTC) + timedelta(days=30 * version, microseconds=version)
    return {
        "id": f"{tenant}-{agreement_id}-{version}",
        "tenant": tenant,
        "agreement_id": agreement_id,
        "version": version,
        "name": "Gold",
        "kind": "SLA",
        "service_key": "busy",
        "effective_from": start,
        "ticket_targets": [],
        "credit_schedule": [],
        "risks": [],
        "payload": {"objectives": [{"objective_id": "o"}]},
        **columns,
    }


async def test_a_due_row_comes_back_with_its_agreements_terms_as_the_pass_reads_them(db: Database) -> None:
    """Several versions (amended, ended, activated later, payloads odd or absent), an agreement of the same id in
    another tenant, and one with no terms stored (its objective's row then says): as `agreed_many` gives them.
    On PostgreSQL none come back: the evaluation reads them after the flag update."""
    now = datetime.now(UTC)
    odd = {"objectives": [{"objective_id": 'it\'s "ü✓"\\'}, {"objective_id": "o"}], "note": "a\u2028b\n"}
    terms = [
        _terms("acme", "amended", 1, effective_to=datetime(2026, 2, 15, 12, 30, tzinfo=UTC)),
        _terms("acme", "amended", 3, payload=odd, activated_at=datetime(2026, 4, 2, 0, 0, 1, 5, tzinfo=UTC)),
        _terms("acme", "amended", 2, payload=None, ended_at=datetime(2026, 3, 20, tzinfo=UTC)),
        _terms("acme", "other", 1),
        _terms("globex", "amended", 1, payload={"objectives": [{"objective_id": "elsewhere"}]}),
    ]
    async with db.session() as session:
        session.add_all(
            [
                _objective("amended", evaluated_at=None),
                _objective("other", evaluated_at=None),
                _objective("unstored", evaluated_at=None),
                _objective("amended", evaluated_at=now - timedelta(days=1), objective_id="p"),  # two of one agreement
                _objective("amended", evaluated_at=None, tenant="globex"),
            ]
        )
        await session.flush()
        await session.execute(insert(AgreementTerms), terms)

    async with db.session() as session:
        flagged = await flagging.flag_series_for_evaluation(
            session,
            tenant="acme",
            series={("busy", "availability")},
            evaluated_before=now - timedelta(hours=1),
            read=True,
        )
        assert len(flagged) == 4 and all(f.due for f in flagged)
        returned = flagging.terms_of(session, flagged)
        read = await agreed.agreed_many(session, flagging.rows_of(session, flagged))
    if db.engine.dialect.name == "postgresql":
        assert returned is None and [f.terms for f in flagged] == [None] * 4
        assert set(read) == {("acme", "amended"), ("acme", "other")}
        return
    assert returned is not None
    assert set(returned) == set(read) == {("acme", "amended"), ("acme", "other")}
    for key, value in read.items():
        found = returned[key]
        assert found == value and found.payloads == value.payloads and found.carries == value.carries
        assert found.instants == value.instants  # each instant's zone too
        assert found is value, "the same stored versions are one entry of the pass's cache"
    assert [v.version for v in returned["acme", "amended"].versions] == [1, 2, 3]
    assert returned["acme", "amended"].payloads[3] == odd


async def test_a_row_not_due_comes_back_without_its_terms(db: Database) -> None:
    now = datetime.now(UTC)
    async with db.session() as session:
        session.add(_objective("recent", evaluated_at=now))
        await session.flush()
        await session.execute(insert(AgreementTerms), [_terms("acme", "recent", 1)])

    async with db.session() as session:
        [flagged] = await flagging.flag_series_for_evaluation(
            session,
            tenant="acme",
            series={("busy", "availability")},
            evaluated_before=now - timedelta(hours=1),
            read=True,
        )
    assert (flagged.due, flagged.terms) == (False, None)
