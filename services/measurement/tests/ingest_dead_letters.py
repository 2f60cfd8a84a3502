"""Set-up of the tests of batches refused over NATS: a running measurement app, its ingest batches published as
tenant acme's with an ingest token, and the dead letters its ingest consumer wrote for them."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import NamedTuple

import nats
from fastapi import FastAPI
from measurement_support import eventually
from sqlalchemy import select

from slm_measurement.config import Settings
from slm_measurement.main import build_app
from slm_measurement.nats_ingest import CONSUMER
from slm_shared.bus import DeadLetter
from slm_shared.testing.app_client import running_app
from slm_shared.testing.pytest_plugin import make_token
from slm_shared.testing.shutdown import publish_retrying


class Batch(NamedTuple):
    """One ingest message: published on `slm.ingest.acme.<source>` (`payments` for points, `tickets` for ticket
    events) with `msg_id` as its Nats-Msg-Id and, where given, `content_type` as its Content-Type."""

    source: str
    msg_id: str
    body: bytes
    content_type: str | None = None


@asynccontextmanager
async def dead_lettered(
    database_url: str, nats_url: str, batches: Sequence[Batch]
) -> AsyncIterator[tuple[FastAPI, dict[str, DeadLetter]]]:
    """Publishes `batches` to a running app and waits (30 s at most) for as many dead letters of its ingest consumer;
    yields the app, still running, and the dead letters by message id."""
    settings = Settings(database_url=database_url, nats_url=nats_url, environment="test")
    app = build_app(settings)
    async with running_app(app, token=make_token("acme")):
        nc = await nats.connect(nats_url)
        try:
            headers = {"Authorization": f"Bearer {make_token('acme', roles=('ingest',))}"}
            js = nc.jetstream()
            for batch in batches:
                more = {"Content-Type": batch.content_type} if batch.content_type else {}
                sent = {**headers, "Nats-Msg-Id": batch.msg_id, **more}
                await publish_retrying(js, f"slm.ingest.acme.{batch.source}", batch.body, sent)
        finally:
            await nc.close()

        async def letters() -> list[DeadLetter] | None:
            async with app.state.db.sessionmaker() as session:
                found = (await session.scalars(select(DeadLetter).where(DeadLetter.consumer == CONSUMER))).all()
            return list(found) if len(found) == len(batches) else None

        yield app, {letter.event_id: letter for letter in await eventually(letters, timeout=30)}
