"""Real loopback servers the whole-stack tests talk to: a ServiceNow-like change table and an SMTP server."""

from __future__ import annotations

import base64
import json
import threading
import uuid
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiosmtpd.controller import Controller

from slm_shared.testing.ports import free_port

TABLE = "/api/now/table/change_request"


@dataclass
class ChangeTable:
    """ServiceNow's Table API for `change_request`: create, query by correlation_id, read one; basic auth."""

    user: str = "svc"
    password: str = "pw"
    records: dict[str, dict[str, Any]] = field(default_factory=dict)
    requests: list[tuple[str, str]] = field(default_factory=list)
    port: int = 0
    _server: ThreadingHTTPServer | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def set_state(self, sys_id: str, state: str, close_code: str | None = None) -> None:
        """What a change manager does in the tool: move the change on."""
        with self._lock:
            self.records[sys_id]["state"] = state
            if close_code is not None:
                self.records[sys_id]["close_code"] = close_code

    def start(self) -> ChangeTable:
        table = self

        class Handler(BaseHTTPRequestHandler):
            def _answer(self, status: int, body: Any) -> None:
                raw = json.dumps(body).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(raw)))
                self.end_headers()
                self.wfile.write(raw)

            def _allowed(self) -> bool:
                expected = "Basic " + base64.b64encode(f"{table.user}:{table.password}".encode()).decode()
                if self.headers.get("Authorization") != expected:
                    self._answer(401, {"error": {"message": "User Not Authenticated"}})
                    return False
                return True

            def do_GET(self) -> None:
                parts = urlsplit(self.path)
                with table._lock:
                    table.requests.append(("GET", parts.path))
                if not self._allowed():
                    return
                if parts.path == TABLE:
                    query = parse_qs(parts.query).get("sysparm_query", [""])[0]
                    terms = dict(t.split("=", 1) for t in query.split("^") if "=" in t)
                    with table._lock:
                        found = [r for r in table.records.values() if all(r.get(k) == v for k, v in terms.items())]
                    self._answer(200, {"result": found[:1]})
                elif parts.path.startswith(TABLE + "/"):
                    record = table.records.get(parts.path.rsplit("/", 1)[1])
                    self._answer(200 if record else 404, {"result": record or {}})
                else:
                    self._answer(404, {})

            def do_POST(self) -> None:
                body = json.loads(self.rfile.read(int(self.headers.get("Content-Length", "0"))) or b"{}")
                with table._lock:
                    table.requests.append(("POST", self.path))
                if not self._allowed():
                    return
                if self.path != TABLE:
                    self._answer(404, {})
                    return
                with table._lock:
                    sys_id = uuid.uuid4().hex
                    number = f"CHG{len(table.records) + 30001:07d}"
                    table.records[sys_id] = {**body, "sys_id": sys_id, "number": number, "state": "-5"}
                    created = dict(table.records[sys_id])
                self._answer(201, {"result": created})

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._server.server_address[1]
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()


class _Mailbox:
    def __init__(self) -> None:
        self.messages: list[tuple[list[str], EmailMessage]] = []
        self.lock = threading.Lock()

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = message_from_bytes(envelope.content, policy=policy.default)
        with self.lock:
            self.messages.append((list(envelope.rcpt_tos), message))
        return "250 OK"


class Smtp:
    """A plain SMTP server on loopback keeping every message with its recipients."""

    def __init__(self) -> None:
        self.mailbox = _Mailbox()
        self.port = free_port()
        self._controller = Controller(self.mailbox, hostname="127.0.0.1", port=self.port)

    def start(self) -> Smtp:
        self._controller.start()
        return self

    def received(self) -> list[tuple[list[str], EmailMessage]]:
        with self.mailbox.lock:
            return list(self.mailbox.messages)

    def stop(self) -> None:
        self._controller.stop()
