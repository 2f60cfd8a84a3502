"""The breach benchmark's stages, read from real SQLite tables shaped as the services' own, end at the receiver:
the time after the attempt starts is split into the webhook reaching the receiver and the bench noticing it."""

from __future__ import annotations

import json
import sqlite3
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from benchlib import stages

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def at(ms: float) -> datetime:
    return T0 + timedelta(milliseconds=ms)


def stored(moment: datetime) -> str:
    return moment.replace(tzinfo=None).isoformat(sep=" ")  # as UTCDateTime stores it on SQLite


@pytest.fixture
def urls(tmp_path: Path) -> dict[str, str]:
    measurement, notifier = tmp_path / "measurement.db", tmp_path / "notifier.db"
    with sqlite3.connect(measurement) as db:
        db.execute("CREATE TABLE outbox (event_id TEXT, type TEXT, body TEXT, created_at TEXT, sent_at TEXT)")
        db.execute(
            "INSERT INTO outbox VALUES (?, ?, ?, ?, ?)",
            ("e1", "slm.measurement.objective.breached.v1", json.dumps({"service_key": "svc-0"}),
             stored(at(30)), stored(at(45))),
        )  # fmt: skip
    with sqlite3.connect(notifier) as db:
        db.execute("CREATE TABLE inbox (event_id TEXT, processed_at TEXT)")
        db.execute("CREATE TABLE deliveries (id TEXT, event_id TEXT, created_at TEXT)")
        db.execute("CREATE TABLE delivery_attempts (delivery_id TEXT, attempted_at TEXT)")
        db.execute("INSERT INTO inbox VALUES ('e1', ?)", (stored(at(47)),))
        db.execute("INSERT INTO deliveries VALUES ('d1', 'e1', ?)", (stored(at(50)),))
        db.execute("INSERT INTO delivery_attempts VALUES ('d1', ?)", (stored(at(60)),))
    return {"measurement": f"sqlite+aiosqlite:///{measurement}", "notifier": f"sqlite+aiosqlite:///{notifier}"}


async def test_each_stage_to_the_receiver_and_the_bench(urls: dict[str, str]) -> None:
    posted = {"svc-0": T0.timestamp()}
    arrived = {"svc-0": (at(64.5).timestamp(), at(66).timestamp())}

    spent = await stages.breakdown(urls, posted, arrived)

    expected = {
        "ingest -> event row": 30.0,
        "event row -> published": 15.0,
        "published -> notifier inbox": 2.0,
        "inbox -> attempt started": 13.0,
        "attempt started -> at receiver": 4.5,
        "at receiver -> bench saw it": 1.5,
    }
    assert spent.keys() == expected.keys()
    for name, milliseconds in expected.items():
        assert spent[name] == [pytest.approx(milliseconds, abs=0.01)], name


async def test_a_breach_whose_webhook_was_not_seen_is_left_out(urls: dict[str, str]) -> None:
    spent = await stages.breakdown(urls, {"svc-0": T0.timestamp()}, {})
    assert all(values == [] for values in spent.values())
