"""The NATS permissions table names exactly the streams each service's consumers read."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from slm_shared.bus.auth import CONSUMERS, NatsAuth, service_user
from slm_shared.contracts.registry import STREAMS

# One process per service: their table models cannot share one SQLModel metadata.
READS = """
import json
from slm_{service}.main import DEFINITION
from slm_shared.bus import Consumer, chain_handlers
consumer = Consumer(None, None, name="{service}", handlers=chain_handlers(*DEFINITION.handlers))
print(json.dumps(sorted(consumer.subscriptions())))
"""


@pytest.mark.parametrize("service", ["catalog", "agreements", "measurement", "notifier"])
def test_each_service_may_consume_exactly_the_streams_it_reads(service: str) -> None:
    found = subprocess.run(
        [sys.executable, "-c", READS.format(service=service)], capture_output=True, text=True, check=True, timeout=120
    )
    reads = set(json.loads(found.stdout.strip().splitlines()[-1]))
    assert reads == {STREAMS[producer].name for producer in CONSUMERS[service].get(service, ())}
    publish = service_user(service, "pw").publish
    for stream in reads:
        assert f"$JS.API.CONSUMER.MSG.NEXT.{stream}.{service}" in publish
    if service == "measurement":  # the NATS ingest consumer
        assert "$JS.API.CONSUMER.MSG.NEXT.SLM_INGEST.measurement-ingest" in publish


def test_make_run_prints_an_ingest_user_per_tenant_asked_for(tmp_path) -> None:  # type: ignore[no-untyped-def]
    from tools.devstack import Stack, _banner

    stack = Stack(tmp_path)
    stack.nats_auth = NatsAuth.generate(ingest_tenants=["demo", "acme"])
    banner = _banner(stack, "token")
    for tenant in ("demo", "acme"):
        user = stack.nats_auth.users[f"ingest-{tenant}"]
        assert f"user {user.user!r} password {user.password!r}" in banner
        assert f"publishes to slm.ingest.{tenant}.<anything> only" in banner
    assert stack.nats_auth.users["slm-operator"].password not in banner
