"""A real nats-server configured with the platform's users: each may publish and read only its own subjects."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
from nats.aio.client import Client
from nats.js.api import AckPolicy, ConsumerConfig

from slm_shared.bus import Bus
from slm_shared.bus.auth import NatsAuth, ingest_user, main, service_user
from slm_shared.bus.connection import NatsCredentials
from slm_shared.contracts.registry import STREAMS
from slm_shared.testing.nats_server import NatsServer


@pytest.fixture(scope="module")
def auth() -> NatsAuth:
    auth = NatsAuth.generate(ingest_tenants=["acme", "globex"])
    return auth


@pytest.fixture(scope="module")
def secured_nats(tmp_path_factory: pytest.TempPathFactory, auth: NatsAuth) -> Iterator[NatsServer]:
    server = NatsServer(tmp_path_factory.mktemp("secured-nats"), auth=auth, sync_always=False).start()
    yield server
    server.stop()


class Session:
    """A connection that records the server's errors (permission violations arrive asynchronously)."""

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.nc: Client | None = None

    async def connect(self, url: str, **options: Any) -> Client:
        async def on_error(exc: Exception) -> None:
            self.errors.append(str(exc))

        self.nc = await nats.connect(url, error_cb=on_error, allow_reconnect=False, connect_timeout=2, **options)
        return self.nc

    async def violations(self) -> list[str]:
        assert self.nc is not None
        await self.nc.flush(timeout=2)
        await asyncio.sleep(0.2)
        return [e for e in self.errors if "ermissions" in e]


@pytest.fixture
async def operator(secured_nats: NatsServer, auth: NatsAuth) -> AsyncIterator[Client]:
    nc = await nats.connect(secured_nats.url, **auth.users["slm-operator"].connect_options())
    bus = Bus(
        secured_nats.url,
        name="provision",
        credentials=NatsCredentials(user="catalog", password=auth.users["catalog"].password),
    )
    await bus.connect(attempts=5)
    await bus.ensure_platform_streams()  # a service's own user may provision every stream
    await bus.close()
    yield nc
    await nc.close()


async def stream_count(operator: Client, producer: str) -> int:
    info = await operator.jetstream().stream_info(STREAMS[producer].name)
    return info.state.messages


async def test_anonymous_and_wrong_password_connections_are_refused(secured_nats: NatsServer, auth: NatsAuth) -> None:
    with pytest.raises(Exception, match=r"(?i)authorization"):
        await Session().connect(secured_nats.url)
    with pytest.raises(Exception, match=r"(?i)authorization"):
        await Session().connect(secured_nats.url, user="catalog", password="not-its-password")


async def test_a_service_publishes_its_own_events_and_not_another_services(
    secured_nats: NatsServer, auth: NatsAuth, operator: Client
) -> None:
    session = Session()
    nc = await session.connect(secured_nats.url, **auth.users["catalog"].connect_options())
    js = nc.jetstream(timeout=2)
    before = await stream_count(operator, "agreements")
    ack = await js.publish("slm.catalog.service.created", b"{}", headers={"ce-tenant": "acme"})
    assert ack.stream == STREAMS["catalog"].name
    with pytest.raises(nats.errors.Error):  # the server drops it: no acknowledgement comes
        await js.publish("slm.agreements.agreement.activated", b"{}", headers={"ce-tenant": "acme"})
    assert any("slm.agreements.agreement.activated" in v for v in await session.violations())
    assert await stream_count(operator, "agreements") == before
    with pytest.raises(nats.errors.Error):  # nor read another stream through a consumer of another's name
        await js.pull_subscribe("slm.measurement.>", durable="notifier", stream=STREAMS["measurement"].name)
    await nc.close()


async def test_a_service_consumes_only_through_its_own_durable_consumers(
    secured_nats: NatsServer, auth: NatsAuth, operator: Client
) -> None:
    await operator.jetstream().publish("slm.agreements.agreement.ended", b"{}", headers={"ce-tenant": "acme"})
    nc = await Session().connect(secured_nats.url, **auth.users["measurement"].connect_options())
    js = nc.jetstream(timeout=2)
    config = ConsumerConfig(
        durable_name="measurement", ack_policy=AckPolicy.EXPLICIT, filter_subjects=["slm.agreements.>"]
    )
    await js.add_consumer(STREAMS["agreements"].name, config)
    subscription = await js.pull_subscribe_bind("measurement", stream=STREAMS["agreements"].name)
    messages = await subscription.fetch(1, timeout=3)
    await messages[0].ack_sync(timeout=2)
    await nc.close()

    session = Session()
    nc = await session.connect(secured_nats.url, **auth.users["catalog"].connect_options())
    with pytest.raises(nats.errors.Error):  # catalog consumes nothing
        await nc.jetstream(timeout=1).add_consumer(STREAMS["agreements"].name, ConsumerConfig(durable_name="catalog"))
    await nc.subscribe("slm.>")  # a plain subscription to the events is refused too
    assert any("slm.>" in v for v in await session.violations())
    await nc.close()


async def test_an_ingest_user_publishes_to_its_tenant_only_and_reads_nothing(
    secured_nats: NatsServer, auth: NatsAuth, operator: Client
) -> None:
    session = Session()
    nc = await session.connect(secured_nats.url, **auth.users["ingest-acme"].connect_options())
    js = nc.jetstream(timeout=2)
    before = await stream_count(operator, "ingest")
    await js.publish("slm.ingest.acme.payments", b"[]")
    await js.publish("slm.ingest.acme", b"[]")
    for subject in ("slm.ingest.globex.payments", "slm.ingest.globex", "slm.measurement.objective.breached"):
        with pytest.raises(nats.errors.Error):
            await js.publish(subject, b"[]")
    assert await stream_count(operator, "ingest") == before + 2
    for subject in ("slm.>", "slm.ingest.>", "_INBOX.>", "_INBOX.measurement.>", "$JS.ACK.>"):
        await nc.subscribe(subject)
    refused = [v.lower() for v in await session.violations()]
    for subject in ("slm.>", "slm.ingest.>", "_INBOX.>", "_INBOX.measurement.>", "$JS.ACK.>"):
        assert f'subscription to "{subject.lower()}"' in " ".join(refused), (subject, refused)
    with pytest.raises(nats.errors.Error):  # no JetStream API either: no consumer of its own to read a stream
        await js.add_consumer(STREAMS["measurement"].name, ConsumerConfig(durable_name="spy"))
    await nc.close()


def test_generated_users_are_limited_and_names_are_checked() -> None:
    user = ingest_user("acme", "pw")
    assert user.publish == ("slm.ingest.acme", "slm.ingest.acme.>")
    assert user.subscribe == ("_INBOX.ingest-acme.>",)
    with pytest.raises(ValueError, match="tenant"):
        ingest_user("acme.*", "pw")
    catalog = service_user("catalog", "pw")
    assert "slm.catalog.>" in catalog.publish and not any(s.startswith("slm.ingest") for s in catalog.publish)
    assert not any("CONSUMER" in s for s in catalog.publish)


def test_the_command_prints_a_users_entry_for_a_tenant(capsys: pytest.CaptureFixture[str], tmp_path: Path) -> None:
    assert main(["ingest-user", "acme", "--password-env", "ACME_INGEST_PASSWORD"]) == 0
    printed = capsys.readouterr().out
    assert "password: $ACME_INGEST_PASSWORD" in printed
    assert json.dumps(["slm.ingest.acme", "slm.ingest.acme.>"]) in printed
    with pytest.raises(SystemExit):
        main(["ingest-user", "not a subject"])
