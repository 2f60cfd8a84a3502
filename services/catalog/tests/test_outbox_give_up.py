"""The relay gives up on an outbox row that keeps failing, visibly, without holding back the others."""

from __future__ import annotations

import asyncio
import uuid

import nats
from conftest import auth
from nats.js.api import StreamConfig

from slm_catalog.config import Settings
from slm_catalog.main import build_app
from slm_shared.bus import OutboxMessage
from slm_shared.testing.app_client import running_app
from slm_shared.testing.nats_server import NatsServer
from slm_shared.testing.pytest_plugin import make_token


def unroutable(tenant: str, subject: str) -> OutboxMessage:
    """A row no stream takes: every publish of it fails while NATS itself is fine."""
    return OutboxMessage(
        event_id=str(uuid.uuid4()), tenant=tenant, subject=subject, type="test.unroutable.v1", headers={}, body="{}"
    )


async def eventually(check, timeout: float = 20.0):  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while (result := await check()) is None or result is False:
        assert asyncio.get_running_loop().time() < deadline, "condition not met in time"
        await asyncio.sleep(0.1)
    return result


async def test_a_row_that_keeps_failing_is_given_up_listed_and_requeued(
    database_url: str, nats_server: NatsServer
) -> None:
    settings = Settings(
        database_url=database_url,
        nats_url=nats_server.url,  # as the operator: a subject no stream takes, not one refused
        environment="test",
        outbox_max_attempts=2,
        outbox_poll_seconds=0.1,
    )
    subject = f"slm.unrouted{uuid.uuid4().hex[:8]}.thing"
    app = build_app(settings)
    async with running_app(app, token=make_token("acme")) as client:
        async with app.state.db.session() as session:
            session.add(unroutable("acme", subject))
            session.add(unroutable("globex", subject))

        async def failed() -> list | None:  # type: ignore[type-arg]
            listed = (await client.get("/v1/outbox", params={"status": "failed"})).json()
            return listed["items"] if listed["total"] == 1 else None

        (row,) = await eventually(failed)
        assert row["tenant"] == "acme" and row["attempts"] == 2 and row["failed_at"] is not None
        assert row["last_error"] and row["status"] == "failed"
        # Given up, it no longer holds the relay back: a new event is sent.
        created = await client.post("/v1/services", json={"key": f"svc-{uuid.uuid4().hex[:6]}", "name": "Svc"})
        assert created.status_code == 201, created.text

        async def sent() -> bool:
            listed = (await client.get("/v1/outbox", params={"status": "sent"})).json()
            return listed["total"] == 1

        await eventually(sent)
        pending = (await client.get("/v1/outbox", params={"status": "pending"})).json()
        assert pending["total"] == 0  # and the given-up row is not retried
        metrics = (await client.get("/metrics")).text
        assert "slm_outbox_given_up_total 2.0" in metrics  # both tenants' rows
        assert "slm_outbox_duplicates_total 0.0" in metrics  # no row was published twice
        assert (await client.get("/v1/outbox", headers=auth("globex"))).json()["total"] == 1
        assert (await client.get("/v1/outbox", headers=auth(role="manager"))).status_code == 403
        bad = await client.get("/v1/outbox", params={"status": "lost"})
        assert bad.status_code == 422 and bad.json()["errors"][0]["field"] == "status"

        # Once something takes the subject, re-queueing sends it.
        nc = await nats.connect(nats_server.url)
        stream = f"TEST_{uuid.uuid4().hex[:8].upper()}"
        try:
            await nc.jetstream().add_stream(StreamConfig(name=stream, subjects=[subject]))
            other = (await client.get("/v1/outbox", params={"status": "failed"}, headers=auth("globex"))).json()
            assert (await client.post(f"/v1/outbox/{other['items'][0]['seq']}/requeue")).status_code == 404
            requeued = await client.post(f"/v1/outbox/{row['seq']}/requeue")
            assert requeued.status_code == 200 and requeued.json()["status"] == "pending"

            async def resent() -> bool:
                listed = (await client.get("/v1/outbox", params={"status": "sent"})).json()
                return listed["total"] == 2

            await eventually(resent)
            assert (await client.post(f"/v1/outbox/{row['seq']}/requeue")).status_code == 409  # sent already
            typo = await client.post("/v1/outbox/requeue", json={"seq": [1]}, headers=auth("globex"))
            assert typo.status_code == 422 and typo.json()["errors"][0]["field"] == "seq", typo.text
            nothing = await client.post("/v1/outbox/requeue", json={"seqs": [row["seq"]]}, headers=auth("globex"))
            assert nothing.json()["requeued"] == []  # another tenant's row is never touched
            bulk = await client.post(
                "/v1/outbox/requeue", json={"seqs": [other["items"][0]["seq"]]}, headers=auth("globex")
            )
            assert bulk.json()["requeued"] == [other["items"][0]["seq"]]
            info = await nc.jetstream().stream_info(stream)

            async def both_in_stream() -> bool:
                return (await nc.jetstream().stream_info(stream)).state.messages == 2

            assert info.state.messages >= 1
            await eventually(both_in_stream)
        finally:
            await nc.jetstream().delete_stream(stream)
            await nc.close()
