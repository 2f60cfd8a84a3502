"""Every service process serves with uvloop and httptools (`slm_shared.cli`), and the app answers through them as
it does through any server: a token checked, problems as problem+json, a malformed request refused with 400, and
a request head past its bound refused (httptools alone keeps any size of head it is sent)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import uvicorn
import uvloop
from fastapi import FastAPI

from slm_shared.app import ServiceDefinition, create_app
from slm_shared.cli import server_options
from slm_shared.settings import ServiceSettings
from slm_shared.testing.ports import free_port
from slm_shared.web.http_protocol import MAX_REQUEST_HEAD_BYTES, BoundedHttpToolsProtocol

DEFINITION = ServiceDefinition(name="served", title="Served", description="test", migrations_package="none", routers=[])


def settings_for(tmp_path: Path, port: int = 8080) -> ServiceSettings:
    return ServiceSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 't.db'}", run_workers=False, host="127.0.0.1", port=port
    )


def test_the_serve_path_runs_uvloop_and_httptools(tmp_path: Path) -> None:
    config = uvicorn.Config(FastAPI(), **server_options(settings_for(tmp_path)))
    config.load()
    assert config.http_protocol_class is BoundedHttpToolsProtocol
    assert config.get_loop_factory() is uvloop.new_event_loop


@contextlib.asynccontextmanager
async def serving(app: FastAPI, settings: ServiceSettings) -> AsyncIterator[str]:
    server = uvicorn.Server(uvicorn.Config(app, **server_options(settings)))
    task = asyncio.create_task(server.serve())
    try:
        while not server.started:
            assert not task.done(), "the server stopped before it started"
            await asyncio.sleep(0.05)
        yield f"http://127.0.0.1:{settings.port}"
    finally:
        server.should_exit = True
        await task


async def test_the_app_answers_through_httptools(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, free_port())
    async with serving(create_app(DEFINITION, settings, auto_migrate=False), settings) as url:
        async with httpx.AsyncClient(base_url=url) as client:
            assert (await client.get("/healthz")).status_code == 200
            refused = await client.get("/v1/outbox", headers={"Authorization": "Bearer not-a-token"})
        assert refused.status_code == 401
        assert refused.headers["content-type"] == "application/problem+json"
        malformed = await status_of(settings.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
        assert malformed.startswith(b"HTTP/1.1 400"), malformed


async def status_of(port: int, request: bytes) -> bytes:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(request)
        return await reader.readline()
    finally:
        writer.close()


async def test_a_request_head_past_its_bound_is_refused(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, free_port())
    async with serving(create_app(DEFINITION, settings, auto_migrate=False), settings):
        within = b"x" * (MAX_REQUEST_HEAD_BYTES - 100)
        answered = await status_of(settings.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + within + b"\r\n\r\n")
        assert answered.startswith(b"HTTP/1.1 200"), answered
        past = b"x" * (MAX_REQUEST_HEAD_BYTES // 4)
        headers = b"".join(b"X-Big-%d: %s\r\n" % (n, past) for n in range(5))
        refused = await status_of(settings.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
        assert refused.startswith(b"HTTP/1.1 400"), refused


async def answer_of(reader: asyncio.StreamReader) -> tuple[bytes, bytes]:
    """One response on a kept-alive connection: its status line and body."""
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.lower().split(b"\r\n")
    length = next(int(line.split(b":")[1]) for line in lines if line.startswith(b"content-length"))
    return head.split(b"\r\n", 1)[0], await reader.readexactly(length)


async def test_a_head_that_never_ends_is_refused_while_the_server_answers_others(tmp_path: Path) -> None:
    # httptools hands a header over only once the next one starts: one that never ends is bounded as it is read
    settings = settings_for(tmp_path, free_port())
    async with serving(create_app(DEFINITION, settings, auto_migrate=False), settings) as url:
        reader, writer = await asyncio.open_connection("127.0.0.1", settings.port)
        answer = asyncio.create_task(reader.read())
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: ")
        sent, piece = 0, b"x" * 1024
        async with httpx.AsyncClient(base_url=url) as other:
            while not answer.done() and sent < 1024 * 1024:
                with contextlib.suppress(ConnectionError):
                    writer.write(piece)
                    await writer.drain()
                sent += len(piece)
                await asyncio.sleep(0.001)  # each piece read on its own
                if sent == 32 * 1024:
                    assert (await other.get("/healthz")).status_code == 200
        writer.close()
        assert sent < 2 * MAX_REQUEST_HEAD_BYTES, f"{sent:,} bytes of one head sent, none refused"
        assert (await answer).startswith(b"HTTP/1.1 400"), answer.result()


async def test_heads_under_the_bound_are_answered_kept_alive_and_pipelined(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, free_port())
    async with serving(create_app(DEFINITION, settings, auto_migrate=False), settings):
        reader, writer = await asyncio.open_connection("127.0.0.1", settings.port)
        try:
            large = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"x" * (60 * 1024) + b"\r\n\r\n"
            for _ in range(5):  # kept alive, each head read in pieces
                for start in range(0, len(large), 4096):
                    writer.write(large[start : start + 4096])
                    await writer.drain()
                    await asyncio.sleep(0.001)
                assert (await answer_of(reader))[0] == b"HTTP/1.1 200 OK"
            pipelined = b"GET /healthz HTTP/1.1\r\nHost: x\r\nX-Big: " + b"x" * (40 * 1024) + b"\r\n\r\n"
            three = pipelined * 3
            # one read holding the first head whole and most of the second: only the second's part counts for it
            for piece in (three[: len(pipelined) + 30 * 1024], three[len(pipelined) + 30 * 1024 :]):
                writer.write(piece)
                await writer.drain()
                await asyncio.sleep(0.05)
            for _ in range(3):
                assert (await answer_of(reader))[0] == b"HTTP/1.1 200 OK"
        finally:
            writer.close()


async def test_the_head_is_bounded_on_the_wire_not_by_names_and_values(tmp_path: Path) -> None:
    settings = settings_for(tmp_path, free_port())
    async with serving(create_app(DEFINITION, settings, auto_migrate=False), settings):
        headers = b"a:\r\n" * 20_000  # 20,000 bytes of names, 80,000 on the wire
        refused = await status_of(settings.port, b"GET /healthz HTTP/1.1\r\nHost: x\r\n" + headers + b"\r\n")
        assert refused.startswith(b"HTTP/1.1 400"), refused


async def test_host_is_required_once_in_http_1_1_and_never_twice(tmp_path: Path) -> None:
    # RFC 9112 section 3.2: 400 to an HTTP/1.1 request without Host and to any request with more than one
    settings = settings_for(tmp_path, free_port())
    async with serving(create_app(DEFINITION, settings, auto_migrate=False), settings):
        for request, status in (
            (b"GET /healthz HTTP/1.1\r\n\r\n", b"400"),
            (b"GET /healthz HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n", b"400"),
            (b"GET /healthz HTTP/1.0\r\nHost: x\r\nHost: y\r\n\r\n", b"400"),
            (b"GET /healthz HTTP/1.0\r\n\r\n", b"200"),
            (b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n", b"200"),
        ):
            answered = await status_of(settings.port, request)
            assert answered.split(b" ")[1] == status, (request, answered)
