"""The NATS ingest takes batches from outside the platform: a batch id longer than the inbox keeps, and a subject
longer than the dead letters keep, are stored within their columns on SQLite and PostgreSQL, never a failure
repeated until the delivery bound (PostgreSQL refuses a value longer than its column)."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta

import nats
from measurement_support import eventually
from sqlalchemy import func, select

from slm_measurement.config import Settings
from slm_measurement.main import build_app
from slm_measurement.models import MinuteBucket
from slm_measurement.nats_ingest import CONSUMER
from slm_shared.bus import DeadLetter
from slm_shared.bus.models import SUBJECT_MAX_LENGTH
from slm_shared.contracts.envelope import EVENT_ID_MAX_LENGTH
from slm_shared.contracts.registry import STREAMS
from slm_shared.testing.app_client import running_app
from slm_shared.testing.nats_server import NatsServer
from slm_shared.testing.pytest_plugin import make_token
from slm_shared.testing.shutdown import publish_retrying

LONG_ID = "b" * (2 * EVENT_ID_MAX_LENGTH)


async def test_a_long_batch_id_and_a_long_subject_are_kept_within_their_columns(
    settings: Settings, private_nats: NatsServer
) -> None:
    app = build_app(
        settings.model_copy(update={"nats_url": private_nats.url, "nats_user": None, "nats_password": None})
    )
    point = {
        "service": "payments",
        "indicator": "availability",
        "timestamp": (datetime.now(UTC) - timedelta(minutes=2)).isoformat(),
        "good": 9,
        "total": 10,
    }
    long_subject = "slm.ingest.acme." + "s" * (2 * SUBJECT_MAX_LENGTH)
    async with running_app(app, token=make_token("acme")):
        nc = await nats.connect(private_nats.url)
        try:
            js = nc.jetstream()
            body = json.dumps([point]).encode()
            for copy in range(2):  # twice with the same batch id: applied once
                headers = {"Slm-Batch-Id": LONG_ID, "Nats-Msg-Id": f"copy-{copy}"}
                await publish_retrying(js, long_subject, body, headers)
            await publish_retrying(js, long_subject, b"[{", {"Slm-Batch-Id": LONG_ID + "-bad"})

            async def letters() -> list[DeadLetter]:
                async with app.state.db.sessionmaker() as session:
                    return list(await session.scalars(select(DeadLetter).where(DeadLetter.consumer == CONSUMER)))

            (letter,) = await eventually(letters, timeout=30)

            async def settled() -> bool:
                info = await js.consumer_info(STREAMS["ingest"].name, CONSUMER)
                return (
                    info.num_ack_pending == 0
                    and info.num_pending == 0
                    and app.state.context.extras["nats_ingestor"].applied == 1
                )

            await eventually(settled, timeout=30)
            await asyncio.sleep(0.3)  # a second copy applied would show by now
            info = await js.consumer_info(STREAMS["ingest"].name, CONSUMER)
        finally:
            await nc.close()
        async with app.state.db.sessionmaker() as session:
            stored = await session.scalar(select(func.sum(MinuteBucket.total)).where(MinuteBucket.tenant == "acme"))
    assert stored == 10 and info.num_redelivered == 0
    assert letter.deliveries == 1 and letter.tenant == "acme" and letter.error.startswith("400 ")
    # the batch id is longer than its column: left out, kept whole in the headers; the subject cut, its tenant whole
    assert letter.event_id is None and letter.headers["Slm-Batch-Id"] == LONG_ID + "-bad"
    assert letter.subject == long_subject[:SUBJECT_MAX_LENGTH]
