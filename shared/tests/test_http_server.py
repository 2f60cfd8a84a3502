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
