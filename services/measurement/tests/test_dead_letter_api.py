"""Dead letters over the API: each keeps its tenant; listed with filters, replayed one by one and in bulk."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import nats
from measurement_support import eventually
from sqlalchemy import func, select, text

from slm_measurement.config import Settings
from slm_measurement.main import build_app
from slm_measurement.models import MinuteBucket
from slm_shared.bus import DeadLetter
from slm_shared.testing.app_client import running_app
from slm_shared.testing.nats_server import NatsServer
from slm_shared.testing.pytest_plugin import make_token
from slm_shared.testing.shutdown import publish_retrying


def batch(service: str) -> bytes:
    stamp = (datetime.now(UTC) - timedelta(minutes=2)).isoformat()
    point = {"service": service, "indicator": "availability", "timestamp": stamp, "good": 9, "total": 10}
    return json.dumps([point]).encode()


async def test_dead_letters_are_listed_filtered_and_replayed_per_tenant(
    sqlite_url: str, private_nats: NatsServer
) -> None:
    settings = Settings(
        database_url=sqlite_url, nats_url=private_nats.url, environment="test", consumer_max_deliveries=1
    )
    app = build_app(settings)
    admin = {"Authorization": f"Bearer {make_token('acme', roles=('admin',))}"}
    async with running_app(app, token=make_token("acme")) as client:
        db = app.state.db
        async with db.session() as session:  # the store breaks: every batch fails
            await session.execute(text("ALTER TABLE minute_buckets RENAME TO minute_buckets_away"))
        nc = await nats.connect(private_nats.url)
        try:
            js = nc.jetstream()
            for n in range(3):
                await publish_retrying(js, f"slm.ingest.acme.s{n}", batch(f"s{n}"), {"Nats-Msg-Id": f"a-{n}"})
            await publish_retrying(js, "slm.ingest.globex.s0", batch("s0"), {"Nats-Msg-Id": "g-0"})
            await publish_retrying(js, "slm.ingest.acme.s9", b"[{", {"Nats-Msg-Id": "a-bad"})
        finally:
            await nc.close()

        async def all_letters() -> list[DeadLetter] | None:
            async with db.sessionmaker() as session:
                rows = list(await session.scalars(select(DeadLetter)))
            return rows if len(rows) == 5 else None

        letters = await eventually(all_letters, timeout=30)
        assert {(d.tenant, d.event_id) for d in letters} == {
            ("acme", "a-0"), ("acme", "a-1"), ("acme", "a-2"), ("globex", "g-0"), ("acme", "a-bad")
        }  # fmt: skip

        listed = (await client.get("/v1/dead-letters", headers=admin)).json()
        assert listed["total"] == 4 and {i["tenant"] for i in listed["items"]} == {"acme"}
        failing = (await client.get("/v1/dead-letters", params={"reason": "minute_buckets"}, headers=admin)).json()
        assert sorted(i["event_id"] for i in failing["items"]) == ["a-0", "a-1", "a-2"]
        by_consumer = await client.get("/v1/dead-letters", params={"consumer": "nobody"}, headers=admin)
        assert by_consumer.json()["total"] == 0
        not_admin = await client.get(
            "/v1/dead-letters", headers={"Authorization": f"Bearer {make_token('acme', roles=('manager',))}"}
        )
        assert not_admin.status_code == 403
        globex_id = next(d.id for d in letters if d.tenant == "globex")
        assert (await client.post(f"/v1/dead-letters/{globex_id}/replay", headers=admin)).status_code == 404
        first = next(i for i in failing["items"] if i["event_id"] == "a-0")
        again = await client.post(f"/v1/dead-letters/{first['id']}/replay", headers=admin)
        assert again.status_code == 409 and "minute_buckets" in again.json()["detail"]

        async with db.session() as session:  # repaired: replay now applies
            await session.execute(text("ALTER TABLE minute_buckets_away RENAME TO minute_buckets"))
        one = await client.post(f"/v1/dead-letters/{first['id']}/replay", headers=admin)
        assert one.status_code == 200 and one.json()["replayed_at"] is not None
        second = next(i for i in failing["items"] if i["event_id"] == "a-1")
        typo = await client.post("/v1/dead-letters/replay", json={"idz": [second["id"]]}, headers=admin)
        assert typo.status_code == 422 and typo.json()["errors"][0]["field"] == "idz", typo.text
        chosen = await client.post("/v1/dead-letters/replay", json={"ids": [second["id"], globex_id]}, headers=admin)
        assert chosen.status_code == 200 and chosen.json() == {"replayed": [second["id"]], "failed": []}
        bulk = await client.post("/v1/dead-letters/replay", json={"reason": "minute_buckets"}, headers=admin)
        assert bulk.status_code == 200, bulk.text
        assert len(bulk.json()["replayed"]) == 1 and bulk.json()["failed"] == []
        unreadable = await client.post("/v1/dead-letters/replay", json={}, headers=admin)
        assert unreadable.json()["replayed"] == [] and len(unreadable.json()["failed"]) == 1  # a-bad stays
        refused = unreadable.json()["failed"][0]["error"]
        assert refused.startswith("400 The body is not valid JSON") and "Request(" not in refused, refused
        bad_filter = await client.post("/v1/dead-letters/replay", json={"limit": 0}, headers=admin)
        assert bad_filter.status_code == 422 and bad_filter.json()["errors"][0]["field"] == "limit"

        async with db.sessionmaker() as session:
            stored = await session.scalar(
                select(func.count()).select_from(MinuteBucket).where(MinuteBucket.tenant == "acme")
            )
            globex_letter = await session.get(DeadLetter, globex_id)
        assert stored == 3  # each replayed batch applied once
        assert globex_letter is not None and globex_letter.replayed_at is None
