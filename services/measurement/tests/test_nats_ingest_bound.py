"""A NATS ingest batch that keeps failing for a reason other than its content is retried, then kept as a dead letter."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import nats
from measurement_support import eventually
from sqlalchemy import select, text

from slm_measurement.config import Settings
from slm_measurement.main import build_app
from slm_measurement.nats_ingest import CONSUMER
from slm_shared.bus import DeadLetter
from slm_shared.testing.app_client import running_app
from slm_shared.testing.nats_server import NatsServer
from slm_shared.testing.pytest_plugin import make_token
from slm_shared.testing.shutdown import publish_retrying


async def test_a_batch_that_keeps_failing_is_dead_lettered_after_the_bound(
    sqlite_url: str, private_nats: NatsServer
) -> None:
    settings = Settings(
        database_url=sqlite_url, nats_url=private_nats.url, environment="test", consumer_max_deliveries=2
    )
    point = {
        "service": "payments",
        "indicator": "availability",
        "timestamp": (datetime.now(UTC) - timedelta(minutes=2)).isoformat(),
        "good": 9,
        "total": 10,
    }
    app = build_app(settings)
    async with running_app(app, token=make_token("acme")):
        async with app.state.db.session() as session:  # the store breaks: every attempt fails
            await session.execute(text("ALTER TABLE minute_buckets RENAME TO minute_buckets_away"))
        nc = await nats.connect(private_nats.url)
        try:
            headers = {
                "Authorization": f"Bearer {make_token('acme', roles=('ingest',))}",
                "Nats-Msg-Id": "b-1",
                "Slm-Source": "probe-7",
            }
            await publish_retrying(nc.jetstream(), "slm.ingest.acme.payments", json.dumps([point]).encode(), headers)
        finally:
            await nc.close()

        async def letters() -> list[DeadLetter]:
            async with app.state.db.sessionmaker() as session:
                return list((await session.scalars(select(DeadLetter).where(DeadLetter.consumer == CONSUMER))).all())

        (letter,) = await eventually(letters, timeout=30)
    assert letter.event_id == "b-1" and letter.deliveries == 2 and letter.tenant == "acme"
    assert (letter.consumer, letter.stream, letter.subject) == (CONSUMER, "SLM_INGEST", "slm.ingest.acme.payments")
    assert letter.event_type == "measurement.batch" and json.loads(letter.body) == [point]
    assert "failed 2 times" in letter.error and "minute_buckets" in letter.error
    assert letter.headers == {"Nats-Msg-Id": "b-1", "Slm-Source": "probe-7"}  # no Authorization
