"""A pass over due objectives (read together, written in bulk) stores exactly what single evaluations store."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import insert, select
from sqlmodel import SQLModel

from slm_measurement import pass_locks, repository
from slm_measurement.evaluation_pass import evaluate_chunk
from slm_measurement.models import DayBucket, HourBucket, MinuteBucket, MinuteValueBin, Objective, ObjectiveTransition
from slm_measurement.service import evaluate_objective
from slm_measurement.thresholds import counted_series
from slm_shared.bus import OutboxMessage
from slm_shared.db import Database

KINDS: list[dict[str, Any]] = [
    {"objective_id": "healthy", "target": 0.99},
    {"objective_id": "breached", "target": 0.9999},
    {"objective_id": "burning", "target": 0.99, "window_duration": "7d"},
    {"objective_id": "second-on-series", "target": 0.98},
    {"objective_id": "other-series", "target": 0.99, "service_key": "web"},
    {"objective_id": "no-data", "target": 0.99, "service_key": "silent"},
    {
        "objective_id": "fast",
        "target": 0.9,
        "indicator": "latency",
        "indicator_kind": "threshold",
        "op": "lte",
        "value": 0.3,
    },
    {"objective_id": "slices", "target": 0.9, "budgeting_method": "timeslices", "timeslice_seconds": 300},
    {
        "objective_id": "own-policy",  # its details written as JSON text by the pass: names beyond ASCII too
        "target": 0.995,
        "alert_policy": [
            {
                "name": "seite-über-1h",
                "severity": "page",
                "budget_share": 0.02,
                "long_window": "1h",
                "short_window": "5m",
            },
            {"name": "チケット", "severity": "ticket", "budget_share": 0.1, "long_window": "1d", "short_window": "2h"},
        ],
        "forecast_lookbacks": ["2h", "30m"],
    },
    {"objective_id": "bad-window", "target": 0.99, "window_duration": "soon"},
]
# One instant for seeding and evaluating: the rollups below are not sums of one another (the counted
# latency series has minutes only), so what a window reads from days, hours or minutes depends on where
# `now` falls; a clock read twice could straddle an hour (or a day) between seeding and evaluating.
NOW = datetime(2026, 3, 11, 14, 37, 23, 250000, tzinfo=UTC)


def _objective(prefix: str, kind: dict[str, Any], maintenance: dict[str, str], now: datetime) -> dict[str, Any]:
    row = {
        "id": f"{prefix}-{kind['objective_id']}",
        "tenant": "acme",
        "agreement_id": f"{prefix}-{kind['objective_id']}",
        "agreement_version": 1,
        "agreement_kind": "SLA",
        "service_key": "api",
        "indicator": "availability",
        "window_kind": "rolling",
        "window_duration": "30d",
        "maintenance_windows": [maintenance] if kind["objective_id"] == "healthy" else [],
        "details": {},
        "firing_alerts": [],
        "created_at": now,
        "updated_at": now,
    }
    return {**row, **kind}


async def _seed(db: Database, now: datetime) -> None:
    async with db.engine.begin() as connection:
        await connection.run_sync(SQLModel.metadata.create_all)
    seconds = int(now.timestamp())
    day, hour, minute = seconds // 86400, seconds // 3600, seconds // 60
    series = {"api": (0.995, 0.990), "web": (0.999, 0.9999)}

    def rows(name: str, last: int, count: int, size: float, recent: bool) -> list[dict[str, Any]]:
        return [
            {"tenant": "acme", "service": s, "indicator": "availability", "scope": scope, name: i, "total": size}
            | {"good": size * shares[1 if recent else 0]}
            for s, shares in series.items()
            for scope in ("", "eu")
            for i in range(last - count, last + 1)
        ]

    started = now - timedelta(hours=3)
    maintenance = {"start": started.isoformat(), "end": (started + timedelta(hours=1)).isoformat()}
    async with db.session() as session:
        await session.execute(insert(DayBucket), rows("day", day, 40, 100_000, False))
        await session.execute(insert(HourBucket), rows("hour", hour, 48, 4_000, False))
        await session.execute(insert(MinuteBucket), rows("minute", minute, 1500, 70, True))
        bins = [(-60, 30), (-40, 50), (-20, 5)]
        await session.execute(
            insert(MinuteValueBin),
            [
                {"tenant": "acme", "service": "api", "indicator": "latency", "scope": "", "minute": m, "bin": b}
                | {"samples": float(n)}
                for m in range(minute - 120, minute + 1)
                for b, n in bins
            ],
        )
        # The same values counted at ingest against the 0.3 threshold: 30 of 85 at or under it.
        counted = counted_series("latency", "lte", 0.3)
        await session.execute(
            insert(MinuteBucket),
            [
                {"tenant": "acme", "service": "api", "indicator": counted, "scope": "", "minute": m}
                | {"good": 30.0, "total": 85.0}
                for m in range(minute - 120, minute + 1)
            ],
        )
        objectives = [_objective(p, k, maintenance, now) for p in ("a", "b") for k in KINDS]
        await session.execute(insert(Objective), objectives)


def _outcomes(objectives: list[Objective], transitions: list[ObjectiveTransition]) -> dict[str, Any]:
    return {
        o.id[2:]: {
            "row": (o.status, o.last_event, o.good, o.total, o.attainment, o.window_start, o.window_end),
            "more": (o.details, o.firing_alerts, o.needs_evaluation, o.evaluated_at),
            "transitions": sorted(
                (t.from_status, t.to_status, t.event, t.attainment, t.expected_attainment, t.at)
                for t in transitions
                if t.objective_row_id == o.id
            ),
        }
        for o in objectives
    }


async def test_a_pass_stores_what_single_evaluations_store(database_url: str) -> None:
    db = Database(database_url)
    try:
        now = NOW
        await _seed(db, now)
        async with db.session() as session:
            ids = [f"a-{k['objective_id']}" for k in KINDS]
            locked = await pass_locks.lock_due_objectives(session, objective_row_ids=ids, stale_before=now)
            assert await evaluate_chunk(session, locked, now=now) == len(KINDS) - 1  # the bad window is skipped
        async with db.session() as session:
            for kind in KINDS[:-1]:
                single = await repository.get_objective(
                    session, tenant="acme", objective_row_id=f"b-{kind['objective_id']}"
                )
                assert single is not None
                await evaluate_objective(session, single, now=now)
        async with db.sessionmaker() as session:
            objectives = list((await session.scalars(select(Objective))).all())
            transitions = list((await session.scalars(select(ObjectiveTransition))).all())
            events = list((await session.scalars(select(OutboxMessage).order_by(OutboxMessage.seq))).all())
        assert {o.id[2:]: o.status for o in objectives if o.id.startswith("a-")} == {
            "healthy": "healthy",
            "breached": "breached",
            "burning": "healthy",
            "second-on-series": "healthy",
            "other-series": "healthy",
            "no-data": "no_data",
            "fast": "breached",
            "slices": "healthy",
            "own-policy": "breached",
            "bad-window": "no_data",
        }
        singles = {o.id[2:]: o for o in objectives if o.id.startswith("b-")}
        passes = {o.id[2:]: o for o in objectives if o.id.startswith("a-")}
        for key in singles:
            a, b = _outcomes([passes[key]], transitions), _outcomes([singles[key]], transitions)
            assert a[key]["row"] == b[key]["row"], key
            assert a[key]["more"] == b[key]["more"], key
            assert a[key]["transitions"] == b[key]["transitions"], key
        by_prefix: dict[str, list[tuple[str, str, dict]]] = {"a": [], "b": []}
        for message in events:
            body = json.loads(message.body)
            prefix, _, key = body.pop("agreement_id").partition("-")
            body.pop("objective_row_id", None)
            by_prefix[prefix].append((key, message.type, body))
        assert by_prefix["a"] == by_prefix["b"]
        assert any("breach" in t for _, t, _ in by_prefix["a"])
        assert any(body.get("firing") for _, _, body in by_prefix["a"])
    finally:
        await db.dispose()
