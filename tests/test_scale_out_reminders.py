"""Two notifier processes on one PostgreSQL database chase the same overdue actions at once: each reminder is
sent once (the `reminders` counter guards the step), and every chase stops after its bounded reminders."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from test_scale_out import ADMIN, event_message, publish, query, wait_for_stream

from slm_shared.contracts import EVENTS
from slm_shared.contracts.payloads import AgreementActivatedV1, ImprovementActionV1, PartyChangedV1, PartyContactV1
from slm_shared.testing.postgres import PostgresServer
from tools.devstack import Stack
from tools.receiver import SmtpReceiver
from tools.scenario import bearer, wait_until

pytestmark = pytest.mark.timeout(180)
CHASES = 12
REMINDERS = 3  # each chase: the overdue notice, then this many reminders at the owner's only level


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    receiver = SmtpReceiver().start()
    yield receiver
    receiver.stop()


@pytest.fixture
def two_notifiers(tmp_path: Path, postgres_server: PostgresServer, smtp: SmtpReceiver) -> Iterator[Stack]:
    url = postgres_server.create_database(f"remind_{uuid.uuid4().hex[:8]}")
    env = {
        "SLM_ENVIRONMENT": "test",
        "NOTIFIER_SMTP_HOST": "127.0.0.1",
        "NOTIFIER_SMTP_PORT": str(smtp.port),
        "NOTIFIER_ESCALATION_POLL_SECONDS": "0.05",  # both escalators look at the due chases many times a second
        "NOTIFIER_CHASE_MAX_REMINDERS": str(REMINDERS),
    }
    stack = Stack.on_free_ports(tmp_path / "stack", extra_env=env, database_urls={"notifier": url})
    try:
        stack.start_nats()
        stack.start_service("notifier")  # the first one migrates the database
        stack.start_replica("notifier")
        yield stack
    finally:
        stack.stop()


def test_two_escalation_workers_send_each_reminder_of_a_chase_once(two_notifiers: Stack, smtp: SmtpReceiver) -> None:
    stack = two_notifiers
    first = stack.replicas_of("notifier")[0]
    created = httpx.post(
        f"{stack.url(first)}/v1/subscriptions",
        json={"name": "owners", "channel": "email", "escalation_seconds": 1,
              "event_types": [EVENTS.action_overdue.type], "target": {"contacts": {"party": "provider"}}},
        headers=bearer(ADMIN), timeout=10,
    )  # fmt: skip
    assert created.status_code == 201, created.text
    wait_for_stream(stack, "SLM_AGREEMENTS")
    sam = PartyContactV1(name="Sam", email="sam@example.com", role="service_level_manager", escalation_level=1)
    agreement = AgreementActivatedV1(
        agreement_id=str(uuid.uuid4()), version=1, kind="SLA", name="Chased SLA", service_id=str(uuid.uuid4()),
        service_key="chased", provider_party_id="party-ops", effective_from=datetime.now(UTC) - timedelta(hours=1),
        objectives=[],
    )  # fmt: skip
    setup = [
        event_message(EVENTS.party_updated, PartyChangedV1(party_id="party-ops", name="Ops", kind="internal",
                                                           contacts=[sam], version=2)),
        event_message(EVENTS.agreement_activated, agreement),
    ]  # fmt: skip
    asyncio.run(publish(stack, setup))
    wait_until(
        lambda: asyncio.run(query(stack, "notifier", "SELECT count(*) FROM parties_view"))[0][0] == 1,
        timeout=30, what="the owner's party", interval=0.2,
    )  # fmt: skip
    overdue = [
        event_message(EVENTS.action_overdue, ImprovementActionV1(
            action_id=f"act-{i}", agreement_id=agreement.agreement_id, service_key="chased", title=f"Fix number {i}",
            owner="Sam", owner_email="sam@example.com", owner_party_id="party-ops",
            due_on=date.today() - timedelta(days=1), status="open", source="manual", revision=1,
        ), subject=f"act-{i}")
        for i in range(CHASES)
    ]  # fmt: skip
    asyncio.run(publish(stack, overdue))

    expected = CHASES * (1 + REMINDERS)
    finished = "SELECT count(*) FROM notifications WHERE state = 'exhausted'"
    wait_until(
        lambda: asyncio.run(query(stack, "notifier", finished))[0][0] == CHASES,
        timeout=90, what="every chase through its reminders", interval=0.5,
    )  # fmt: skip
    wait_until(lambda: len(smtp.received) >= expected, timeout=30, what=f"{expected} e-mails", interval=0.2)
    pending = "SELECT count(*) FROM deliveries WHERE status = 'pending'"
    wait_until(lambda: asyncio.run(query(stack, "notifier", pending))[0][0] == 0, timeout=30, what="nothing pending")

    per_chase = Counter(str(mail.message["Subject"]).rsplit(" ", 1)[-1] for mail in smtp.received)
    assert len(smtp.received) == expected, f"{len(smtp.received)} e-mails for {expected} notices and reminders"
    assert per_chase == {str(i): 1 + REMINDERS for i in range(CHASES)}
    assert all(mail.rcpt_tos == ["sam@example.com"] for mail in smtp.received)
    counted = "SELECT reminders, count(*) FROM notifications GROUP BY 1"
    assert asyncio.run(query(stack, "notifier", counted)) == [(REMINDERS, CHASES)]
    sent = "SELECT event_id, count(*) FROM deliveries WHERE status = 'succeeded' GROUP BY 1"
    by_event = dict(asyncio.run(query(stack, "notifier", sent)))
    assert len(by_event) == expected and set(by_event.values()) == {1}  # notice and each reminder r1..rN once
    assert sum(1 for event_id in by_event if event_id.endswith(f":r{REMINDERS}")) == CHASES
