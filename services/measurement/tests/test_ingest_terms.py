"""A breaching ingest's inline evaluation judges its window by the agreement's stored versions, as the worker would.

The objective's row holds the version applied last; which part of the window each version counts, and by which
target, the stored versions say (`agreed`). On SQLite the flag update returns them (`flag_terms`); on PostgreSQL
the evaluation reads them after the flag update, which may have waited for an activation to commit: then they
include the version the row it returned was set to.
"""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import text
from test_evaluation_wake import INGEST, breaching
from test_evaluation_with_ingest import _objective, _quiet
from ticket_support import activate, outbox, ticket_agreement

from slm_measurement import events as measurement_events
from slm_measurement import service
from slm_measurement.domain.windows import floor_minute
from slm_shared.contracts.payloads_v2 import AgreementActivatedV2
from slm_shared.contracts.registry import EVENTS
from slm_shared.db import Database

BREACHED = EVENTS.objective_breached.type


def _version(agreement_id: str, key: str, version: int, target: float, since: datetime) -> AgreementActivatedV2:
    """Version `version`: 'o', availability at `target` over a rolling 30 days, in force from `since`."""
    objective = {"objective_id": "o", "indicator": "availability", "target": target,
                 "window": {"kind": "rolling", "duration": "30d"}}  # fmt: skip
    return ticket_agreement(
        agreement_id=agreement_id, service_key=key, party="p", ticket_targets=[], objectives=[objective],
        version=version, effective_from=since, activated_at=since,
    )  # fmt: skip


async def _amended(db: Database, key: str, amended_at: datetime) -> str:
    """v1 (99.9%) from a day ago, v2 (50%) from `amended_at`; evaluated with no data, then left an hour."""
    agreement_id = str(uuid.uuid4())
    await activate(db, _version(agreement_id, key, 1, 0.999, datetime.now(UTC) - timedelta(days=1)))
    await activate(db, _version(agreement_id, key, 2, 0.5, amended_at))
    assert await service.evaluate_due(db, interval=timedelta(hours=1), limit=100) >= 1
    await _quiet(db, key)
    return agreement_id


async def test_the_part_of_the_window_before_an_amendment_is_judged_by_the_version_then_in_force(
    app_client: Any,
) -> None:
    """v2 (50%) came into force this minute; the batch's minutes (95% good) are v1's (99.9%): breached.

    Judged by the row alone (v2's target over the window, or only from v2's start), the batch would be met or
    counted nowhere: the stored versions are what breach it, inline, in the batch's own transaction.
    """
    app, client = app_client
    db: Database = app.state.db
    key = f"amended-{uuid.uuid4().hex[:8]}"
    agreement_id = await _amended(db, key, floor_minute(datetime.now(UTC)))

    response = await client.post("/v1/measurements", json=breaching(key), headers=INGEST)
    assert response.status_code == 202, response.text

    found = await _objective(db, agreement_id)
    assert (found.agreement_version, found.target) == (2, 0.5)
    assert (found.status, found.needs_evaluation) == ("breached", False)  # evaluated inline, not left flagged
    assert found.good is not None and found.total is not None and found.good / found.total == pytest.approx(0.95)
    [event] = await outbox(db, BREACHED, agreement_id=agreement_id)
    assert (event["objective_id"], event["status"], event["total"]) == ("o", "breached", 5000)


async def _flag_update_waiting(db: Database) -> None:
    """Until a connection's flag update waits for a row lock (PostgreSQL)."""
    async with asyncio.timeout(30):
        while True:
            async with db.sessionmaker() as session:
                waiting = await session.scalar(
                    text(
                        "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()"
                        " AND wait_event_type = 'Lock' AND query LIKE 'UPDATE objectives SET needs_evaluation%'"
                    )
                )
            if waiting:
                return
            await asyncio.sleep(0.02)


async def test_an_activation_committed_while_the_flag_update_waits_is_the_one_evaluated(app_client: Any) -> None:
    """PostgreSQL, READ COMMITTED: the flag update waits for the activation's lock on the objective's row, then
    returns the row at v2 (50% from this minute); the terms the evaluation judges it by include v2 (read after the
    wait), so the batch's minutes are v1's (99.9%): breached, as in the test above. Read by a subquery of the flag
    update they would be as of its start, v1 alone: one version over the whole window, judged by the row (v2's
    50%), healthy.
    """
    app, client = app_client
    db: Database = app.state.db
    if db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's writers take turns (BEGIN IMMEDIATE): no activation commits during a flag update")
    key = f"race-{uuid.uuid4().hex[:8]}"
    agreement_id = str(uuid.uuid4())
    await activate(db, _version(agreement_id, key, 1, 0.999, datetime.now(UTC) - timedelta(days=1)))
    assert await service.evaluate_due(db, interval=timedelta(hours=1), limit=100) >= 1
    await _quiet(db, key)

    amended = _version(agreement_id, key, 2, 0.5, floor_minute(datetime.now(UTC)))  # after the batch's minutes
    async with db.session() as session:  # as the activation consumer: objectives, then terms, one transaction
        await measurement_events.on_agreement_activated(
            session, EVENTS.agreement_activated_v2.build(tenant="acme", data=amended)
        )
        ingest = asyncio.create_task(client.post("/v1/measurements", json=breaching(key), headers=INGEST))
        await _flag_update_waiting(db)
        assert not ingest.done()
    response = await ingest
    assert response.status_code == 202, response.text

    found = await _objective(db, agreement_id)
    assert (found.agreement_version, found.target) == (2, 0.5)
    assert (found.status, found.needs_evaluation, found.total) == ("breached", False, 5000)
    assert len(await outbox(db, BREACHED, agreement_id=agreement_id)) == 1
