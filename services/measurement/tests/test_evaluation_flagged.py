"""The flagged pass: what ingestion flagged is chosen, locked and evaluated in one transaction."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest
from sqlalchemy import select, update
from sqlmodel import col
from test_evaluation_wake import INGEST, agreement_on, breaching
from ticket_support import outbox

from slm_measurement import flagged_pass, service
from slm_measurement.config import Settings
from slm_measurement.models import Objective, ObjectiveTransition
from slm_shared.contracts.registry import EVENTS
from slm_shared.db import Database, utcnow


@pytest.fixture
def settings(settings: Settings) -> Settings:
    """These tests drive the flagged pass by hand: ingestion leaves what it flags to it (limit 0)."""
    return settings.model_copy(update={"ingest_evaluation_limit": 0})


async def _objectives(db: Database, agreements: list[str]) -> dict[str, Objective]:
    async with db.sessionmaker() as session:
        rows = await session.scalars(select(Objective).where(col(Objective.agreement_id).in_(agreements)))
        return {row.agreement_id: row for row in rows.all()}


async def test_the_flagged_pass_evaluates_flagged_objectives_only_up_to_its_limit(app_client) -> None:  # type: ignore[no-untyped-def]
    app, client = app_client
    db: Database = app.state.db
    keys = [f"flagged-{uuid.uuid4().hex[:8]}" for _ in range(4)]
    agreements = [await agreement_on(db, key) for key in keys]
    assert await service.evaluate_due(db, interval=timedelta(hours=1), limit=100) >= 4
    long_ago = utcnow() - timedelta(days=1)
    async with db.session() as session:  # the last one is stale but not flagged: the flagged pass leaves it
        await session.execute(
            update(Objective).where(col(Objective.agreement_id) == agreements[3]).values(evaluated_at=long_ago)
        )
    for key in keys[:2]:
        response = await client.post("/v1/measurements", json=breaching(key), headers=INGEST)
        assert response.status_code == 202, response.text

    assert await flagged_pass.evaluate_flagged(db, limit=100) == 2
    found = await _objectives(db, agreements)
    assert [found[a].status for a in agreements[:2]] == ["breached", "breached"]
    assert not any(found[a].needs_evaluation for a in agreements)
    assert found[agreements[3]].evaluated_at == long_ago
    assert found[agreements[2]].status == "no_data"

    for key in keys[2:]:
        response = await client.post("/v1/measurements", json=breaching(key), headers=INGEST)
        assert response.status_code == 202, response.text
    assert await flagged_pass.evaluate_flagged(db, limit=1, chunk=1) == 1  # the limit holds across chunks
    found = await _objectives(db, agreements)
    assert sorted(found[a].needs_evaluation for a in agreements[2:]) == [False, True]
    assert await flagged_pass.evaluate_flagged(db, limit=100) == 1
    assert await flagged_pass.evaluate_flagged(db, limit=100) == 0


async def test_two_flagged_passes_at_once_evaluate_each_objective_once(app_client) -> None:  # type: ignore[no-untyped-def]
    """Two workers (on PostgreSQL at once: each skips the rows the other holds) record each breach once."""
    app, client = app_client
    db: Database = app.state.db
    keys = [f"twice-{uuid.uuid4().hex[:8]}" for _ in range(6)]
    agreements = [await agreement_on(db, key) for key in keys]
    assert await service.evaluate_due(db, interval=timedelta(hours=1), limit=100) >= 6
    for key in keys:
        response = await client.post("/v1/measurements", json=breaching(key), headers=INGEST)
        assert response.status_code == 202, response.text

    done = await asyncio.gather(*(flagged_pass.evaluate_flagged(db, limit=100, chunk=2) for _ in range(2)))
    assert sum(done) == 6, done
    breached = EVENTS.objective_breached.type
    for agreement_id in agreements:
        assert len(await outbox(db, breached, agreement_id=agreement_id)) == 1, agreement_id
    found = await _objectives(db, agreements)
    async with db.sessionmaker() as session:
        moved = (
            await session.scalars(
                select(ObjectiveTransition.objective_row_id).where(
                    col(ObjectiveTransition.objective_row_id).in_([o.id for o in found.values()]),
                    col(ObjectiveTransition.to_status) == "breached",
                )
            )
        ).all()
    assert sorted(moved) == sorted(o.id for o in found.values())


async def test_a_flagged_objective_that_fails_alone_is_rolled_back_and_the_next_one_evaluated(app_client) -> None:  # type: ignore[no-untyped-def]
    app, client = app_client
    db: Database = app.state.db
    suffix = uuid.uuid4().hex[:8]
    keys = [f"a-poison-{suffix}", f"b-good-{suffix}"]  # the poisoned one is chosen first
    poisoned, good = [await agreement_on(db, key) for key in keys]
    assert await service.evaluate_due(db, interval=timedelta(hours=1), limit=100) >= 2
    async with db.session() as session:  # stored by a release that wrote observed spans this one cannot read
        await session.execute(
            update(Objective)
            .where(col(Objective.agreement_id) == poisoned)
            .values(observed=[{"start": "not an instant", "end": "never"}])
        )
    for key in keys:
        response = await client.post("/v1/measurements", json=breaching(key), headers=INGEST)
        assert response.status_code == 202, response.text

    assert await flagged_pass.evaluate_flagged(db, limit=100, chunk=1) == 1
    found = await _objectives(db, [poisoned, good])
    assert (found[good].status, found[good].needs_evaluation) == ("breached", False)
    assert (found[poisoned].status, found[poisoned].needs_evaluation) == ("no_data", True)  # left for the next pass
    assert await outbox(db, EVENTS.objective_breached.type, agreement_id=poisoned) == []
    async with db.sessionmaker() as session:
        moved = await session.scalars(
            select(ObjectiveTransition).where(col(ObjectiveTransition.objective_row_id) == found[poisoned].id)
        )
        assert moved.all() == []
