"""JetStream connection with reconnect, and idempotent stream provisioning."""

from __future__ import annotations

import asyncio
import logging
import ssl
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import nats
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NotFoundError

from slm_shared.bus.auth import inbox_prefix
from slm_shared.contracts.registry import STREAMS, StreamSpec
from slm_shared.tasks import checkpoint, pause, stop_tasks

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class NatsCredentials:
    """How a connection logs in (user and password) and verifies the server (TLS with a CA, optional client key)."""

    user: str | None = None
    password: str | None = None
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None

    def connect_options(self) -> dict[str, Any]:
        """Keyword arguments for `nats.connect`."""
        options: dict[str, Any] = {}
        if self.user:
            options.update(user=self.user, password=self.password or "", inbox_prefix=inbox_prefix(self.user))
        if self.tls_ca or self.tls_cert:
            context = ssl.create_default_context(cafile=str(self.tls_ca) if self.tls_ca else None)
            if self.tls_cert:
                context.load_cert_chain(str(self.tls_cert), str(self.tls_key) if self.tls_key else None)
            options["tls"] = context
        return options


class Bus:
    """A NATS connection that keeps reconnecting, with its JetStream context."""

    def __init__(
        self, url: str, *, name: str, stream_replicas: int = 1, credentials: NatsCredentials | None = None
    ) -> None:
        self.url = url
        self.name = name
        self.stream_replicas = stream_replicas
        self.credentials = credentials or NatsCredentials()
        self.nc: Client | None = None
        self._js: JetStreamContext | None = None
        self.connected = asyncio.Event()
        self._reconnected = asyncio.Event()  # set at the next reconnect, then replaced by a fresh one
        self._closing = False

    @property
    def js(self) -> JetStreamContext:
        if self._js is None:
            raise RuntimeError("the bus is not connected yet")
        return self._js

    def next_reconnect(self) -> asyncio.Event:
        """An event set when the connection next comes back after a drop (pull requests went with the old one)."""
        return self._reconnected

    @property
    def is_connected(self) -> bool:
        return self.nc is not None and self.nc.is_connected

    async def connect(self, *, attempts: int | None = None, delay: float = 0.5) -> None:
        """Connect, retrying until it succeeds (or `attempts` run out); later drops reconnect."""
        tried = 0
        while True:
            checkpoint()
            tried += 1
            try:
                self.nc = await nats.connect(
                    servers=[self.url],
                    name=self.name,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=0.5,
                    connect_timeout=2,
                    drain_timeout=2,
                    disconnected_cb=self._on_disconnected,
                    reconnected_cb=self._on_reconnected,
                    error_cb=self._on_error,
                    **self.credentials.connect_options(),
                )
                break
            except Exception as exc:
                if attempts is not None and tried >= attempts:
                    raise
                checkpoint()
                logger.warning("NATS at %s not reachable (%s); retrying", self.url, exc)
                await pause(min(delay * tried, 5.0))
        self._js = self.nc.jetstream(timeout=5)
        self.connected.set()

    async def ensure_streams(self, specs: Iterable[StreamSpec]) -> None:
        """Create each stream with file storage, or bring its configuration up to date."""
        for spec in specs:
            config = StreamConfig(
                name=spec.name,
                subjects=list(spec.subjects),
                storage=StorageType.FILE,
                retention=RetentionPolicy.WORK_QUEUE if spec.work_queue else RetentionPolicy.LIMITS,
                duplicate_window=spec.duplicate_window,
                num_replicas=self.stream_replicas,
            )
            try:
                await self.js.stream_info(spec.name)
            except NotFoundError:
                try:
                    await self.js.add_stream(config)
                    continue
                except BadRequestError:
                    pass  # another replica created it first
            try:
                await self.js.update_stream(config)
            except BadRequestError as exc:
                logger.warning("stream %s kept its existing configuration: %s", spec.name, exc)

    async def ensure_platform_streams(self) -> None:
        """Provision every producer's stream; idempotent, so any service may call it."""
        await self.ensure_streams(STREAMS.values())

    async def close(self, *, within: float = 3.0) -> None:
        """Flush what is pending and close, in `within` seconds whatever the server does.

        No `drain()`: the consumers have unsubscribed already, and nats-py's drain swallows
        cancellation and waits on an unresponsive server.
        """
        self._closing = True
        nc = self.nc
        if nc is None or nc.is_closed:
            return
        closing = asyncio.create_task(_flush_and_close(nc), name=f"{self.name}-nats-close")
        done, _ = await asyncio.wait({closing}, timeout=within)
        if not done:
            logger.warning("NATS did not close in %.1fs; dropping the connection", within)
            _abort_transport(nc)
            await stop_tasks([closing], grace_seconds=1.0)

    async def _on_disconnected(self) -> None:
        if not self._closing:
            logger.warning("NATS disconnected")

    async def _on_reconnected(self) -> None:
        logger.info("NATS reconnected")
        reconnected, self._reconnected = self._reconnected, asyncio.Event()
        reconnected.set()

    async def _on_error(self, exc: Exception) -> None:
        logger.debug("NATS error: %s", exc)


async def _flush_and_close(nc: Client) -> None:
    if nc.is_connected:
        try:
            await nc.flush(timeout=1)
        except Exception:
            logger.debug("NATS flush failed; closing", exc_info=True)
    await nc.close()


def _abort_transport(nc: Client) -> None:
    """Drop the socket of a connection whose server stopped reading (a frozen peer keeps close() waiting)."""
    writer = getattr(getattr(nc, "_transport", None), "_io_writer", None)
    transport = getattr(writer, "transport", None)
    if transport is not None:
        transport.abort()
