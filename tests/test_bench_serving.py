"""A server a benchmark runs in its own process is the services' server: their HTTP protocol and event loop."""

from __future__ import annotations

import asyncio
import sys
from pathlib import Path

import uvloop
from fastapi import FastAPI

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from benchlib.serving import in_process_server, run_on_server_loop

from slm_shared.web.http_protocol import BoundedHttpToolsProtocol


def test_an_in_process_server_is_the_services_server() -> None:
    server = in_process_server(FastAPI(), 8080)
    server.config.load()
    assert server.config.http_protocol_class is BoundedHttpToolsProtocol
    loops: list[asyncio.AbstractEventLoop] = []

    async def main() -> None:
        loops.append(asyncio.get_running_loop())

    run_on_server_loop(main())
    assert isinstance(loops[0], uvloop.Loop)
