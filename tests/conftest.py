"""Cross-service tests run the real processes: nats-server and the four services on loopback."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from slm_shared.testing import processes
from tools.devstack import SERVICES, Stack
from tools.receiver import SmtpReceiver, WebhookReceiver

FAST = {
    "MEASUREMENT_EVALUATION_INTERVAL_SECONDS": "1",
    "NOTIFIER_RETRY_BASE_SECONDS": "0.2",
    "SLM_ENVIRONMENT": "test",
}


def patiently_started(running: Stack) -> Stack:
    """NATS and the four services, each given up to 4 minutes to be ready: a busy machine is not a failure."""
    running.start_nats()
    for spec in SERVICES:
        running.start_service(spec.name, wait=False)
    for spec in SERVICES:
        running.wait_ready(spec.name, timeout=240)
    return running


@pytest.fixture
def services_tmpdir() -> Iterator[dict[str, str]]:
    """The TMPDIR a stack's services get: what runs under it (the Chromium printing a report's PDF) is ended after
    the test, and on an overrun, which SIGKILLs the services and would leave their children running.

    A short path: Chromium puts its singleton socket there, and a socket's path holds at most 107 bytes.
    """
    folder = Path(tempfile.mkdtemp(prefix="slm-tmp-"))
    processes.started_under(folder, folder, f"what the stack's services run under {folder}")
    yield {"TMPDIR": str(folder)}
    processes.end_under(folder)
    processes.stopped(folder)
    shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def stack(tmp_path: Path, services_tmpdir: dict[str, str]) -> Iterator[Stack]:
    running = Stack.on_free_ports(tmp_path / "stack", extra_env={**FAST, **services_tmpdir})
    try:
        patiently_started(running)
        yield running
    finally:
        running.stop()


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver().start()
    yield server
    server.stop()


@pytest.fixture
def mailbox() -> Iterator[SmtpReceiver]:
    server = SmtpReceiver().start()
    yield server
    server.stop()


@pytest.fixture
def pager() -> Iterator[WebhookReceiver]:
    server = WebhookReceiver().start()
    yield server
    server.stop()


@pytest.fixture
def patient_stack(tmp_path: Path, mailbox: SmtpReceiver) -> Iterator[Stack]:
    """The stack, e-mailing to `mailbox`."""
    smtp = {"NOTIFIER_SMTP_HOST": mailbox.host, "NOTIFIER_SMTP_PORT": str(mailbox.port)}
    running = Stack.on_free_ports(tmp_path / "stack", extra_env={**FAST, **smtp})
    try:
        patiently_started(running)
        yield running
    finally:
        running.stop()
