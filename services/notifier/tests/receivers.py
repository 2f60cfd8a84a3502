"""A real HTTP receiver on a loopback port, speaking just enough HTTP/1.1 for webhooks."""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, field


@dataclass
class Received:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.time)


class Receiver:
    """Answers each request with the next scripted (status, headers), then with `default`."""

    def __init__(
        self,
        *script: tuple[int, dict[str, str]],
        default: tuple[int, dict[str, str]] = (200, {}),
        delay: float = 0,
        gate: asyncio.Event | None = None,
    ) -> None:
        self.delay = delay
        self.gate = gate  # when given, every answer waits until it is set
        self.script = list(script)
        self.default = default
        self.requests: list[Received] = []
        self.port = 0
        self._server: asyncio.Server | None = None
        self._arrived = asyncio.Condition()

    async def __aenter__(self) -> Receiver:
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    def url(self, path: str = "/hook") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    async def wait_for(self, count: int, timeout: float = 15.0) -> list[Received]:
        """Wait until at least `count` requests arrived; returns them all."""
        async with self._arrived:
            await asyncio.wait_for(self._arrived.wait_for(lambda: len(self.requests) >= count), timeout)
        return list(self.requests)

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {}
            for line in lines[1:]:
                if ":" in line:
                    name, value = line.split(":", 1)
                    headers[name.strip().lower()] = value.strip()
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            status, extra = self.script.pop(0) if self.script else self.default
            async with self._arrived:
                self.requests.append(Received(method, path, headers, body))
                self._arrived.notify_all()
            if self.delay:
                await asyncio.sleep(self.delay)
            if self.gate is not None:
                await self.gate.wait()
            extra_lines = "".join(f"{k}: {v}\r\n" for k, v in extra.items())
            writer.write(
                f"HTTP/1.1 {status} X\r\nContent-Length: 2\r\nConnection: close\r\n{extra_lines}\r\nok".encode()
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()
