"""The flag update of a REST ingest: the JSON of an objective left to the worker is never decoded.

A busy series' objectives were evaluated moments ago and are left to the worker. On PostgreSQL, whose
driver decodes every JSON value it receives, their rows come back from the flag update with NULL in
place of every evaluated column (`CASE WHEN due`); on SQLite their JSON comes back as text, decoded
only for the objectives evaluated inline.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from slm_measurement import flagging
from slm_measurement.models import Objective
from slm_shared.db import Database

OBSERVED = [{"start": "2026-11-01T00:00:00Z", "end": "2026-11-01T00:05:00Z"}]


def _objective(agreement_id: str, *, evaluated_at: datetime | None) -> Objective:
    return Objective(
        tenant="acme",
        agreement_id=agreement_id,
        agreement_version=1,
        agreement_kind="sla",
        objective_id="o",
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
