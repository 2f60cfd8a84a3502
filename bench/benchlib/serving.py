"""A server a benchmark runs in its own process is the services' server (`slm_shared.cli`): their HTTP protocol,
and their event loop for the whole benchmark, so what it measures through that server is what they serve with."""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine
from typing import Any

import uvicorn

from slm_shared.cli import SERVER_HTTP, SERVER_LOOP


def in_process_server(app: Any, port: int, **options: Any) -> uvicorn.Server:
    """uvicorn for `app` on 127.0.0.1:`port`, to `serve()` on the benchmark's loop (see `run_on_server_loop`)."""
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, loop=SERVER_LOOP, http=SERVER_HTTP, log_level="warning", **options
    )
    return uvicorn.Server(config)


def run_on_server_loop(main: Coroutine[Any, Any, None]) -> None:
    """Run a benchmark's `main` on the services' event loop: a server it starts in-process serves on this loop."""
    loop_factory = uvicorn.Config("", loop=SERVER_LOOP).get_loop_factory()  # uvicorn's loop set-up; no app loaded
    with asyncio.Runner(loop_factory=loop_factory) as runner:
        runner.run(main)
