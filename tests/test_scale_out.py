"""Two replicas of a service, as real processes on one PostgreSQL database and one NATS server,
share the work without counting, publishing or delivering anything twice."""

from __future__ import annotations

import asyncio
import json
import random
import re
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import nats
import pytest
from sqlalchemy import text

from slm_shared.auth import issue_token
from slm_shared.bus import record_event
from slm_shared.contracts import EVENTS
from slm_shared.contracts.payloads import AgreementActivatedV1, ServiceCreatedV1
from slm_shared.db import Database
from slm_shared.settings import DEVELOPMENT_JWT_SECRET
from slm_shared.testing.breaches import breach
from slm_shared.testing.postgres import PostgresServer
from tools.devstack import Stack
from tools.receiver import WebhookReceiver
from tools.scenario import Scenario, bearer, wait_until

TENANT = "scale"
ADMIN = issue_token(DEVELOPMENT_JWT_SECRET, tenant=TENANT, roles=["admin"], subject="scale-admin")
INGESTER = issue_token(DEVELOPMENT_JWT_SECRET, tenant=TENANT, roles=["ingest"], subject="scale-ingest")
FAST = {
    "SLM_ENVIRONMENT": "test",
    "MEASUREMENT_NATS_INGEST_BATCH": "2",  # small fetches, so both replicas get messages
    "CATALOG_OUTBOX_POLL_SECONDS": "0.05",
    "NOTIFIER_MAX_CONCURRENCY": "4",
    "AGREEMENTS_JOBS_INTERVAL_SECONDS": "0.2",  # both replicas run the scheduled jobs many times
    "MEASUREMENT_UNKNOWN_SERIES": "warn",  # the batches name services no catalogue announced
}

pytestmark = pytest.mark.timeout(120)

SAM = [
    {"name": "Sam", "email": "sam@example.com", "role": "service_level_manager", "escalation_level": 1}
]  # owns actions


@pytest.fixture
def two_of(request: pytest.FixtureRequest, tmp_path: Path, postgres_server: PostgresServer) -> Iterator[Stack]:
    """NATS plus two processes of one service (the parametrised name) on a fresh PostgreSQL database."""
    service: str = request.param
    url = postgres_server.create_database(f"scale_{service}_{uuid.uuid4().hex[:8]}")
    stack = Stack.on_free_ports(tmp_path / "stack", extra_env=FAST, database_urls={service: url})
    try:
        stack.start_nats()
        stack.start_service(service)  # the first one migrates the database
        stack.start_replica(service)
        yield stack
    finally:
        stack.stop()


async def query(stack: Stack, service: str, sql: str) -> list[Any]:
    """Rows of one SQL query against the service's database, read from the test process."""
    db = Database(stack.database_urls[service])
    try:
        async with db.sessionmaker() as session:
            return list((await session.execute(text(sql))).all())
    finally:
        await db.dispose()


async def publish(stack: Stack, messages: list[tuple[str, bytes, dict[str, str]]]) -> None:
    """Publish to JetStream and wait for every acknowledgement."""
    client = await nats.connect(stack.nats_url, **stack.nats_options())
    try:
        js = client.jetstream(timeout=10)
        await asyncio.gather(*(js.publish(subject, body, headers=headers) for subject, body, headers in messages))
    finally:
        await client.close()


def event_message(spec: Any, data: Any, subject: str | None = None) -> tuple[str, bytes, dict[str, str]]:
    event = spec.build(tenant=TENANT, data=data, subject=subject)
    return spec.subject, json.dumps(event.data).encode(), {**event.headers(), "Nats-Msg-Id": event.id}


def wait_for_stream(stack: Stack, name: str) -> None:
    async def exists() -> bool:
        client = await nats.connect(stack.nats_url, **stack.nats_options())
        try:
            await client.jetstream().stream_info(name)
            return True
        except Exception:
            return False
        finally:
            await client.close()

    wait_until(lambda: asyncio.run(exists()), timeout=30, what=f"stream {name}", interval=0.3)


def activation(index: int) -> AgreementActivatedV1:
    return AgreementActivatedV1(
        agreement_id=str(uuid.uuid4()),
        version=1,
        kind="SLA",
        name=f"Scale SLA {index}",
        service_id=str(uuid.uuid4()),
        service_key=f"svc-{index % 5}",
        effective_from=datetime.now(UTC) - timedelta(hours=1),
        objectives=[
            {
                "objective_id": "availability",
                "indicator": "availability",
                "objective": 0.99,
                "window": {"kind": "rolling", "duration": "28d"},
            }
        ],
    )


@pytest.mark.parametrize("two_of", ["measurement"], indirect=True)
def test_two_measurement_replicas_count_each_batch_and_event_once(two_of: Stack) -> None:
    stack = two_of
    wait_for_stream(stack, "SLM_INGEST")
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    rng = random.Random(8)
    expected: Counter[tuple[str, datetime, str]] = Counter()
    batches = []
    for batch in range(80):
        points = []
        for index in range(25):
            service, minute = f"svc-{index % 5}", now - timedelta(minutes=(batch + index) % 30 + 1)
            good = rng.randint(0, 100)
            total = good + rng.randint(0, 5)
            points.append(
                {
                    "service": service,
                    "indicator": "availability",
                    "timestamp": minute.isoformat(),
                    "good": good,
                    "total": total,
                }
            )
            expected[(service, minute, "good")] += good
            expected[(service, minute, "total")] += total
        headers = {"Authorization": f"Bearer {INGESTER}", "Nats-Msg-Id": f"batch-{batch}"}
        batches.append((f"slm.ingest.{TENANT}.scale", json.dumps(points).encode(), headers))
    activations = [event_message(EVENTS.agreement_activated, activation(i)) for i in range(20)]
    asyncio.run(publish(stack, batches + activations + batches[:10]))  # ten batches published twice

    def totals() -> Counter[tuple[str, datetime, str]]:
        found: Counter[tuple[str, datetime, str]] = Counter()
        for number in range(5):
            response = httpx.get(
                f"{stack.url('measurement#2')}/v1/series",
                params={
                    "service": f"svc-{number}",
                    "indicator": "availability",
                    "granularity": "minute",
                    "start": (now - timedelta(minutes=40)).isoformat(),
                    "end": now.isoformat(),
                },
                headers=bearer(ADMIN),
                timeout=10,
            )
            assert response.status_code == 200, response.text
            for bucket in response.json()["buckets"]:
                start = datetime.fromisoformat(bucket["start"])
                found[(f"svc-{number}", start, "good")] += bucket["good"]
                found[(f"svc-{number}", start, "total")] += bucket["total"]
        return found

    def ingested() -> bool:
        # The ingest batches and the activations (measurement also consumes its own objective events).
        applied = (
            "SELECT count(*) FROM inbox WHERE consumer = 'measurement-ingest' OR event_type LIKE 'slm.agreements.%'"
        )
        return asyncio.run(query(stack, "measurement", applied))[0][0] >= 80 + 20

    wait_until(ingested, timeout=60, what="both replicas to apply every batch and event", interval=0.5)
    assert totals() == expected  # the same totals a single process computes: nothing counted twice

    per_consumer = (
        "SELECT consumer, count(*), count(DISTINCT event_id) FROM inbox"
        " WHERE consumer = 'measurement-ingest' OR event_type LIKE 'slm.agreements.%' GROUP BY consumer"
    )
    rows = asyncio.run(query(stack, "measurement", per_consumer))
    assert {consumer: (count, distinct) for consumer, count, distinct in rows} == {
        "measurement-ingest": (80, 80),
        "measurement": (20, 20),
    }
    objectives = httpx.get(f"{stack.url('measurement')}/v1/objectives?limit=100", headers=bearer(ADMIN)).json()
    assert objectives["total"] == 20


@pytest.mark.parametrize("two_of", ["notifier"], indirect=True)
def test_two_notifier_replicas_deliver_each_notification_once(two_of: Stack) -> None:
    stack = two_of
    receiver = WebhookReceiver().start()
    try:
        scenario = Scenario({"notifier": stack.url("notifier")}, tenant=TENANT)
        scenario.subscribe(receiver.url)
        wait_for_stream(stack, "SLM_MEASUREMENT")
        events = [event_message(EVENTS.objective_breached, breach(i), subject=f"objective-{i}") for i in range(40)]
        asyncio.run(publish(stack, events + events[:10]))  # ten published twice: JetStream keeps one
        received = receiver.wait_for(40, timeout=60)
        assert len(received) == 40, f"only {len(received)} of 40 notifications arrived"
        wait_until(
            lambda: (
                asyncio.run(query(stack, "notifier", "SELECT count(*) FROM deliveries WHERE status <> 'pending'"))[0][0]
                == 40
            ),
            timeout=20,
            what="every delivery recorded",
        )
        received = list(receiver.received)
        assert len(received) == 40, "a notification was delivered twice"
        assert len({hook.headers["webhook-id"] for hook in received}) == 40
        assert sorted(hook.json()["data"]["objective_id"] for hook in received) == sorted(f"obj-{i}" for i in range(40))
        outcomes = "SELECT status, attempt_count, count(*) FROM deliveries GROUP BY 1, 2"
        attempts = asyncio.run(query(stack, "notifier", outcomes))
        assert attempts == [("succeeded", 1, 40)]
    finally:
        receiver.stop()


def published_by(stack: Stack, process: str) -> float:
    metrics = httpx.get(f"{stack.url(process)}/metrics", timeout=10).text
    found = re.search(r"^slm_outbox_published_total (\S+)$", metrics, flags=re.MULTILINE)
    assert found, metrics[:500]
    return float(found.group(1))


@pytest.mark.parametrize("two_of", ["catalog"], indirect=True)
def test_two_outbox_relays_publish_each_event_once(two_of: Stack) -> None:
    stack = two_of
    wait_for_stream(stack, "SLM_CATALOG")
    events = 2000

    async def fill() -> None:
        db = Database(stack.database_urls["catalog"])
        try:
            async with db.session() as session:  # one commit: both relays see all of it at once
                for i in range(events):
                    data = ServiceCreatedV1(service_id=str(uuid.uuid4()), key=f"scale-{i}", name=f"Service {i}")
                    record_event(session, EVENTS.service_created, tenant=TENANT, data=data)
        finally:
            await db.dispose()

    asyncio.run(fill())

    def relayed() -> bool:
        return asyncio.run(query(stack, "catalog", "SELECT count(*) FROM outbox WHERE sent_at IS NULL"))[0][0] == 0

    wait_until(relayed, timeout=60, what="both relays to publish the outbox", interval=0.5)
    # Each row published, acknowledged and marked exactly once; a second publish would count twice
    # here even though JetStream's de-duplication would hide it from consumers.
    rows = asyncio.run(query(stack, "catalog", "SELECT attempts, count(*) FROM outbox GROUP BY attempts"))
    assert rows == [(1, events)]
    shares = [published_by(stack, process) for process in stack.replicas_of("catalog")]
    assert sum(shares) == events, shares
    assert all(share > 0 for share in shares), f"one relay did all the work: {shares}"

    async def stream_messages() -> int:
        client = await nats.connect(stack.nats_url, **stack.nats_options())
        try:
            return (await client.jetstream().stream_info("SLM_CATALOG")).state.messages
        finally:
            await client.close()

    assert asyncio.run(stream_messages()) == events


def agreement_in_force(scenario: Scenario, service: dict[str, Any], offering: dict[str, Any], index: int) -> str:
    """An SLA in force 25 days, ending in 10, with a monthly review: a renewal and a review are due."""
    party = scenario.call(
        "POST",
        "agreements",
        "/v1/parties",
        201,
        json={"name": f"Customer {index}", "kind": "customer", "contacts": SAM},
    )
    now = datetime.now(UTC)
    body = {
        "kind": "SLA",
        "name": f"SLA {index}",
        "service_id": service["id"],
        "offering_id": offering["id"],
        "consumer_party_id": party["id"],
        "effective_from": (now - timedelta(days=25)).isoformat(),
        "effective_to": (now + timedelta(days=10)).isoformat(),
        "review_cycle": "monthly",
    }

    def create() -> httpx.Response | None:
        response = scenario.http.post(f"{scenario.urls['agreements']}/v1/agreements", json=body, headers=bearer(ADMIN))
        return response if response.status_code == 201 else None

    created = wait_until(create, timeout=30, what="agreements to learn the published offering")
    agreement_id = created.json()["id"]
    customer = issue_token(DEVELOPMENT_JWT_SECRET, tenant=TENANT, roles=["customer"], party=party["id"])
    for step, token in (("propose", None), ("accept", None), ("accept", customer), ("activate", None)):
        scenario.call("POST", "agreements", f"/v1/agreements/{agreement_id}/{step}", 200, token=token)
    overdue = {"title": "Fix", "owner": "sam", "due_on": (now - timedelta(days=1)).date().isoformat()}
    scenario.call("POST", "agreements", f"/v1/agreements/{agreement_id}/actions", 201, json=overdue)
    return agreement_id


@pytest.mark.parametrize("two_of", ["agreements"], indirect=True)
def test_two_agreements_replicas_emit_each_reminder_once(two_of: Stack) -> None:
    stack = two_of
    stack.start_service("catalog")
    urls = {name: stack.url(name) for name in ("catalog", "agreements")}
    scenario = Scenario(urls, tenant=TENANT)
    service, offering = scenario.create_offering()
    agreements = [agreement_in_force(scenario, service, offering, index) for index in range(3)]
    kinds = ("agreement.renewal_due", "review.due", "action.overdue")
    emitted_sql = "SELECT type, body FROM outbox"

    def emitted() -> Counter[tuple[str, str]]:
        rows = asyncio.run(query(stack, "agreements", emitted_sql))
        return Counter((k, json.loads(body)["agreement_id"]) for type_, body in rows for k in kinds if k in type_)

    wait_until(lambda: len(emitted()) == 9, timeout=30, what="every reminder", interval=0.5)
    time.sleep(1.5)  # several more passes of both replicas, any of which could emit a reminder again
    assert emitted() == Counter({(kind, agreement): 1 for kind in kinds for agreement in agreements})
