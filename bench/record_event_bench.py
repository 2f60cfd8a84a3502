"""CPU per event of `record_event` (envelope, headers, body, outbox row, added to the session) against the plain
path through the validating constructors it is held to (`slm_shared.testing.event_reference`: a re-creation of
what `record_event` did before, not the old code itself), and against a plain `json.dumps` of the same data, in
alternating rounds of the same run.

The events are those a breaching ingest records in measurement (one status change, burn-rate alerts): no database
round trip is measured, only the work done in the caller's transaction before its flush.

Usage: .venv/bin/python bench/record_event_bench.py [rounds] [events_per_round]
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from slm_shared.bus import record_event
from slm_shared.bus.record import PENDING_FLAG, ROWS_KEY
from slm_shared.contracts import EVENTS
from slm_shared.contracts.envelope import EventSpec
from slm_shared.contracts.payloads import BurnAlertV1, ObjectiveStatusV1
from slm_shared.testing.event_reference import reference_row


def breach_events() -> list[tuple[EventSpec[Any], BaseModel, str]]:
    """One objective breaching: its status change and three burn-rate tiers firing."""
    now = datetime.now(UTC)
    ids = {"agreement_id": str(uuid.uuid4()), "objective_id": "checkout-availability"}
    common = {**ids, "service_key": "checkout", "indicator": "availability", "consumer_party_id": str(uuid.uuid4())}
    status = ObjectiveStatusV1(
        **common, status="breached", previous_status="at_risk", objective=0.999, attainment=0.9912, good=99120.0,
        total=100000.0, window_start=now, window_end=now, observed_at=now, severity="critical",
        budget_exhausted_at=now,
    )  # fmt: skip
    events: list[tuple[EventSpec[Any], BaseModel, str]] = [(EVENTS.objective_breached, status, "objective-row-1")]
    for tier, long, short, share in (("page-1h", "1h", "5m", 0.02), ("page-6h", "6h", "30m", 0.05),
                                     ("ticket-3d", "3d", "6h", 0.1)):  # fmt: skip
        alert = BurnAlertV1(
            **common, objective_row_id=str(uuid.uuid4()), tier=tier, severity="page", firing=True,
            long_window=long, short_window=short, long_burn_rate=20.5, short_burn_rate=31.25,
            threshold_factor=14.4, budget_share=share, objective=0.999, observed_at=now,
            objective_name="Checkout availability", budget_exhausted_at=now,
        )  # fmt: skip
        events.append((EVENTS.objective_burn_alert, alert, "objective-row-1"))
    return events


def plain_path(session: AsyncSession, spec: EventSpec[Any], *, tenant: str, data: BaseModel, subject: str) -> None:
    """The reference path (`reference_row`): the validating constructors for the envelope and the row, headers
    percent-encoded one character at a time."""
    row = reference_row(spec, tenant=tenant, data=data, subject=subject)
    session.add(row)
    session.info.setdefault(ROWS_KEY, []).append(row)
    session.info[PENDING_FLAG] = True


def json_only(session: AsyncSession, spec: EventSpec[Any], *, tenant: str, data: BaseModel, subject: str) -> None:
    """The floor: the JSON of the data alone (what any path must at least do)."""
    json.dumps(data.model_dump(mode="json"), separators=(",", ":"))


def run_round(make_session: Callable[[], AsyncSession], path: Callable[..., Any], events: int) -> float:
    """CPU microseconds per event for `events` events through `path`, one session per breach (4 events)."""
    breach = breach_events()
    spent = 0.0
    done = 0
    while done < events:
        session = make_session()
        start = time.process_time()
        for spec, data, subject in breach:
            path(session, spec, tenant="acme", data=data, subject=subject)
        spent += time.process_time() - start
        session.expunge_all()  # nothing flushed: only the work before the flush is measured
        session.info.clear()
        done += len(breach)
    return spent / done * 1e6


async def main(rounds: int, events: int) -> None:
    engine = create_async_engine("sqlite+aiosqlite:///:memory:")
    paths: dict[str, Callable[..., Any]] = {"plain": plain_path, "record_event": record_event, "json": json_only}
    for path in paths.values():  # warm up: imports, mapper configuration, pydantic schemas
        run_round(lambda: AsyncSession(engine), path, 200)
    results: dict[str, list[float]] = {name: [] for name in paths}
    for _ in range(rounds):
        for name, path in paths.items():  # alternating, so load drifting during the run hits each alike
            results[name].append(run_round(lambda: AsyncSession(engine), path, events))
    await engine.dispose()
    plain, new, floor = (statistics.median(results[name]) for name in ("plain", "record_event", "json"))
    ratios = [n / p for n, p in zip(results["record_event"], results["plain"], strict=True)]
    print(f"load average before/after: {LOAD}, {os.getloadavg()}; {rounds} rounds of {events} events each path")
    print(f"validating constructor path (reference_row): {plain:7.1f} us CPU/event (median of rounds)")
    print(f"record_event:                                {new:7.1f} us CPU/event")
    print(f"json.dumps of the data alone:                {floor:7.1f} us CPU/event")
    print(
        f"record_event / plain: {statistics.median(ratios):.2f} (rounds {min(ratios):.2f}..{max(ratios):.2f}); "
        f"record_event / json.dumps: {new / floor:.1f}; plain / json.dumps: {plain / floor:.1f}"
    )


if __name__ == "__main__":
    LOAD = os.getloadavg()
    asyncio.run(main(int(sys.argv[1]) if len(sys.argv) > 1 else 9, int(sys.argv[2]) if len(sys.argv) > 2 else 4000))
