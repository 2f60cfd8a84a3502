"""The NATS permissions table names exactly the streams each service's consumers read."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from slm_shared.bus.auth import CONSUMERS, service_user
from slm_shared.contracts.registry import STREAMS

# One process per service: their table models cannot share one SQLModel metadata.
READS = """
import json
from slm_{service}.main import DEFINITION
from slm_shared.bus.inbox import Consumer
print(json.dumps(sorted(Consumer(None, None, name="{service}", handlers=DEFINITION.handlers).subscriptions())))
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
