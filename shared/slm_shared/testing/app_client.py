"""Run a service app in-process (lifespan included) and talk to it over ASGI."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx
from fastapi import FastAPI


@contextlib.asynccontextmanager
async def running_app(app: FastAPI, *, token: str | None = None) -> AsyncIterator[httpx.AsyncClient]:
    """Start the app's lifespan (database, bus, workers) and yield a client bound to it."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    async with app.router.lifespan_context(app):
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver", headers=headers) as client:
            yield client
