"""Cross-service tests run the real processes: nats-server and the four services on loopback."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tools.devstack import Stack
from tools.receiver import WebhookReceiver

FAST = {
    "MEASUREMENT_EVALUATION_INTERVAL_SECONDS": "1",
    "NOTIFIER_RETRY_BASE_SECONDS": "0.2",
    "SLM_ENVIRONMENT": "test",
}


@pytest.fixture
def stack(tmp_path: Path) -> Iterator[Stack]:
    running = Stack.on_free_ports(tmp_path / "stack", extra_env=FAST)
    try:
        running.start()
        yield running
    finally:
        running.stop()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver().start()
    yield server
    server.stop()
