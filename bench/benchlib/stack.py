"""The real stack (NATS and the four services as uvicorn processes) on SQLite or PostgreSQL."""

from __future__ import annotations

import contextlib
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import NamedTuple

import httpx

from benchlib.postgres import postgres_missing
from slm_shared.auth import issue_token
from slm_shared.cli import SERVER_HTTP, SERVER_LOOP
from slm_shared.settings import DEVELOPMENT_JWT_SECRET
from slm_shared.testing.ports import free_port
from slm_shared.testing.postgres import PostgresServer
from tools.devstack import SERVICES, Stack

BENCH_DIR = Path(__file__).resolve().parent.parent


def token(role: str = "admin", tenant: str = "bench", party: str | None = None) -> str:
    """A development token for the benchmark tenant."""
    return issue_token(
        DEVELOPMENT_JWT_SECRET, tenant=tenant, roles=[role], subject=f"bench-{role}", party=party, ttl_seconds=3600
    )


def databases(choice: str) -> list[str]:
    """The databases to run on: sqlite, postgresql or both (PostgreSQL only where its binaries are here)."""
    wanted = ["sqlite", "postgresql"] if choice == "both" else [choice]
    if "postgresql" in wanted and (reason := postgres_missing()) is not None:
        print(f"(PostgreSQL skipped: {reason})")
        wanted.remove("postgresql")
    return wanted


READY_SECONDS = 180.0  # on a loaded machine four services importing at once take minutes


def start(stack: Stack) -> None:
    """NATS, then every service, waiting for each to be ready (longer than the dev stack does)."""
    stack.start_nats()
    for spec in SERVICES:
        stack.start_service(spec.name, wait=False)
    for spec in SERVICES:
        stack.wait_ready(spec.name, timeout=READY_SECONDS)


@contextlib.contextmanager
def running_stack(database: str, **env: str) -> Iterator[tuple[Stack, dict[str, str]]]:
    """Start NATS and the services; yields the stack and each service's database URL."""
    with tempfile.TemporaryDirectory(prefix="slm-bench-") as folder:
        data = Path(folder)
        postgres = PostgresServer().start() if database == "postgresql" else None
        try:
            if postgres is not None:
                urls = {s.name: postgres.create_database(s.name) for s in SERVICES}
            else:
                urls = {s.name: f"sqlite+aiosqlite:///{data / (s.name + '.db')}" for s in SERVICES}
            stack = Stack.on_free_ports(data, database_urls=urls, extra_env={"SLM_LOG_LEVEL": "WARNING", **env})
            try:
                start(stack)
                yield stack, urls
            finally:
                stack.stop()  # also when a service never became ready
        finally:
            if postgres is not None:
                postgres.stop()


class Served(NamedTuple):
    """A server the benchmark started: where it listens and its process (whose CPU time a round reads)."""

    port: int
    pid: int


@contextlib.contextmanager
def uvicorn_process(app: str, **env: str) -> Iterator[Served]:
    """Serve `benchlib.<module>:<app>` under uvicorn on a free loopback port, with the event loop and HTTP
    implementation the services serve with (`slm_shared.cli`), so a ratio compares apps, not servers."""
    port = free_port()
    address = ["--host", "127.0.0.1", "--port", str(port)]
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "uvicorn",
            app,
            *address,
            "--loop",
            SERVER_LOOP,
            "--http",
            SERVER_HTTP,
            "--log-level",
            "warning",
        ],
        cwd=BENCH_DIR,
        env={**os.environ, **env},
    )
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"http://127.0.0.1:{port}/docs", timeout=1)
                break
            if process.poll() is not None:
                raise RuntimeError(f"{app} exited with {process.returncode}")
            time.sleep(0.1)
        yield Served(port, process.pid)
    finally:
        process.terminate()
        process.wait(timeout=10)
