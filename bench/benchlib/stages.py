"""Where a breach's time goes, read from the services' own tables after a run."""

from __future__ import annotations

import json
import statistics
from datetime import datetime

from sqlalchemy import text
from sqlalchemy.ext.asyncio import create_async_engine

OUTBOX = "SELECT body, created_at, sent_at, event_id FROM outbox WHERE type LIKE '%objective.breached%'"
INBOX = "SELECT event_id, processed_at FROM inbox"
ATTEMPTS = (
    "SELECT d.event_id, d.created_at, a.attempted_at FROM deliveries d JOIN delivery_attempts a ON a.delivery_id = d.id"
)


def instant(value: object) -> float:
    """Seconds since the epoch of a stored timestamp (SQLite returns text, PostgreSQL datetimes)."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value.timestamp() if value.tzinfo else value.replace(tzinfo=__import__("datetime").UTC).timestamp()


async def rows(url: str, query: str) -> list[tuple[object, ...]]:
    engine = create_async_engine(url)
    async with engine.connect() as connection:
        found = [tuple(r) for r in (await connection.execute(text(query))).all()]
    await engine.dispose()
    return found


async def breakdown(
    urls: dict[str, str], posted: dict[str, float], arrived: dict[str, tuple[float, float]]
) -> dict[str, list[float]]:
    """Per stage, the milliseconds each breach spent: evaluate, relay, NATS + inbox, delivery row, POST, and
    the bench noticing the webhook (`arrived`: per service key, when the receiver had it and the bench saw it)."""
    events = {}
    for body, created, sent, event_id in await rows(urls["measurement"], OUTBOX):
        key = json.loads(body)["service_key"]
        if key in posted and sent is not None:
            events[event_id] = (key, instant(created), instant(sent))
    inbox = {event_id: instant(at) for event_id, at in await rows(urls["notifier"], INBOX)}
    attempts = {e: (instant(c), instant(a)) for e, c, a in await rows(urls["notifier"], ATTEMPTS)}
    stages: dict[str, list[float]] = {
        "ingest -> event row": [],
        "event row -> published": [],
        "published -> notifier inbox": [],
        "inbox -> attempt started": [],
        "attempt started -> at receiver": [],
        "at receiver -> bench saw it": [],
    }
    for event_id, (key, created, sent) in events.items():
        if event_id not in inbox or event_id not in attempts or key not in arrived:
            continue
        stages["ingest -> event row"].append(created - posted[key])
        stages["event row -> published"].append(sent - created)
        stages["published -> notifier inbox"].append(inbox[event_id] - sent)
        stages["inbox -> attempt started"].append(attempts[event_id][1] - inbox[event_id])
        stages["attempt started -> at receiver"].append(arrived[key][0] - attempts[event_id][1])
        stages["at receiver -> bench saw it"].append(arrived[key][1] - arrived[key][0])
    return {name: [v * 1000 for v in values] for name, values in stages.items()}


def report(stages: dict[str, list[float]]) -> None:
    for name, values in stages.items():
        if values:
            print(f"    {name:<30} median {statistics.median(values):7.1f} ms   max {max(values):7.1f} ms")
