"""Real servers on loopback that record what they receive: webhooks over HTTP, e-mail over SMTP."""

from __future__ import annotations

import contextlib
import json
import socket
import threading
import time
from dataclasses import dataclass, field
from email import message_from_bytes
from email import policy as email_policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes
    # once the whole request was read (benchmarks' timings): wall clock, comparable with the services' stored
    # timestamps, and time.perf_counter(), comparable with the same process's monotonic clock
    arrived_at: float
    arrived_perf: float

    def json(self) -> Any:
        return json.loads(self.body)


@dataclass
class WebhookReceiver:
    """Answers POSTs with the queued statuses (then 204), after `delay_seconds`, and keeps every request.

    `keep_alive`: answer in HTTP/1.1 and keep the connection open for the sender's next request, as most
    production receivers do; by default HTTP/1.0, one connection (and one server thread) per request.
    `stop()` closes the connections kept open too: nothing is received after it."""

    host: str = "127.0.0.1"
    port: int = 0
    received: list[Received] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    delay_seconds: float = 0.0
    keep_alive: bool = False
    answered: list[str] = field(default_factory=list)  # webhook-ids whose answer was sent in full
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _connections: set[socket.socket] = field(default_factory=set)  # open now (kept alive ones included)
    _stopped: bool = False
    arrived: threading.Condition = field(default_factory=threading.Condition)

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}/hooks/slm"

    def start(self) -> WebhookReceiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1" if receiver.keep_alive else "HTTP/1.0"
            timeout = 30.0  # an idle kept-alive connection is closed (its thread ends) after this

            def setup(self) -> None:
                super().setup()
                with receiver._lock:
                    receiver._connections.add(self.connection)

            def finish(self) -> None:
                with receiver._lock:
                    receiver._connections.discard(self.connection)
                super().finish()

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length", "0"))
                body = self.rfile.read(length)
                arrived_at, arrived_perf = time.time(), time.perf_counter()
                headers = {k.lower(): v for k, v in self.headers.items()}
                if receiver._stopped:  # read on a connection kept from before stop(): not received
                    self.close_connection = True
                    return
                with receiver.arrived:
                    receiver.received.append(Received(self.path, headers, body, arrived_at, arrived_perf))
                    status = receiver.statuses.pop(0) if receiver.statuses else 204
                    receiver.arrived.notify_all()
                if receiver.delay_seconds:
                    time.sleep(receiver.delay_seconds)
                self.send_response(status)
                self.send_header("Content-Length", "0")
                self.end_headers()
                self.wfile.flush()
                with receiver.arrived:
                    receiver.answered.append(self.headers.get("webhook-id", ""))

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer((self.host, self.port), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def wait_for(self, count: int, timeout: float) -> list[Received]:
        """Block until `count` requests have arrived (or the timeout passes); return them all."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.received) >= count, timeout=timeout)
            return list(self.received)

    def stop(self) -> None:
        """Stop accepting, and close the connections still open (a kept-alive one would go on receiving)."""
        self._stopped = True
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
        with self._lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)
            connection.close()


@dataclass
class Mail:
    mail_from: str
    rcpt_tos: list[str]
    message: EmailMessage


@dataclass
class SmtpReceiver:
    """A plain SMTP server on loopback (aiosmtpd) that accepts every message and keeps it."""

    host: str = "127.0.0.1"
    port: int = 0
    received: list[Mail] = field(default_factory=list)
    arrived: threading.Condition = field(default_factory=threading.Condition)
    _controller: Any = None

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        parsed = message_from_bytes(envelope.content, policy=email_policy.default)
        with self.arrived:
            self.received.append(Mail(envelope.mail_from, list(envelope.rcpt_tos), parsed))
            self.arrived.notify_all()
        return "250 OK"

    def start(self) -> SmtpReceiver:
        from aiosmtpd.controller import Controller

        if not self.port:
            with socket.socket() as sock:
                sock.bind((self.host, 0))
                self.port = int(sock.getsockname()[1])
        self._controller = Controller(self, hostname=self.host, port=self.port)
        self._controller.start()
        return self

    def wait_for(self, count: int, timeout: float) -> list[Mail]:
        """Block until `count` messages have arrived (or the timeout passes); return them all."""
        with self.arrived:
            self.arrived.wait_for(lambda: len(self.received) >= count, timeout=timeout)
            return list(self.received)

    def stop(self) -> None:
        if self._controller is not None:
            self._controller.stop()
