"""Every service process serves with uvloop and httptools (`slm_shared.cli`), and the app answers through them as
it does through any server: a token checked, problems as problem+json, a malformed request refused with 400."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import uvicorn
import uvloop
from fastapi import FastAPI
from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

from slm_shared.app import ServiceDefinition, create_app
from slm_shared.cli import server_options
from slm_shared.settings import ServiceSettings
from slm_shared.testing.ports import free_port

DEFINITION = ServiceDefinition(name="served", title="Served", description="test", migrations_package="none", routers=[])


def settings_for(tmp_path: Path, port: int = 8080) -> ServiceSettings:
    return ServiceSettings(
        database_url=f"sqlite+aiosqlite:///{tmp_path / 't.db'}", run_workers=False, host="127.0.0.1", port=port
    )


def test_the_serve_path_runs_uvloop_and_httptools(tmp_path: Path) -> None:
    config = uvicorn.Config(FastAPI(), **server_options(settings_for(tmp_path)))
    config.load()
    assert config.http_protocol_class is HttpToolsProtocol
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
        reader, writer = await asyncio.open_connection("127.0.0.1", settings.port)
        writer.write(b"GET /healthz HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
        status_line = await reader.readline()
        writer.close()
        assert status_line.startswith(b"HTTP/1.1 400"), status_line
