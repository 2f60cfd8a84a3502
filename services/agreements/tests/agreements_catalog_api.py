"""A real HTTP server on a loopback port that answers like the catalog's REST API, for the whole test run."""

from __future__ import annotations

import threading
from typing import Any

import uvicorn
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from slm_shared.testing.ports import free_port

STANDARD_INDICATORS = {
    "availability": "ratio",
    "latency": "threshold",
    "uptime": "timeslice",
    "response_time": "ticket_time",
    "resolution_time": "ticket_time",
}
NOT_FOUND = {"title": "Not Found", "status": 404}


class CatalogApi:
    """Serves standard indicators, calendars, dependency answers and requirement matches that tests register."""

    def __init__(self) -> None:
        self.port = free_port()
        self.calendars: dict[str, dict[str, Any]] = {}
        self.supporting: dict[str, list[dict[str, Any]]] = {}
        self.matches: dict[str, dict[str, Any]] = {}
        self.requests: list[tuple[str, str]] = []
        api = FastAPI()

        @api.get("/v1/indicators/{key}")
        async def indicator(key: str) -> JSONResponse:
            self.requests.append(("GET", f"/v1/indicators/{key}"))
            if key not in STANDARD_INDICATORS:
                return JSONResponse(NOT_FOUND, status_code=404)
            return JSONResponse({"key": key, "name": key, "kind": STANDARD_INDICATORS[key], "builtin": True})

        @api.get("/v1/calendars/{key}")
        async def calendar(key: str) -> JSONResponse:
            found = self.calendars.get(key)
            return JSONResponse(found) if found else JSONResponse(NOT_FOUND, status_code=404)

        @api.get("/v1/services/{service_id}/supporting")
        async def supporting(service_id: str, transitive: bool = False) -> JSONResponse:
            self.requests.append(("GET", f"/v1/services/{service_id}/supporting?transitive={transitive}"))
            return JSONResponse(self.supporting.get(service_id, []))

        @api.post("/v1/requirements/match")
        async def match(request: Request) -> JSONResponse:
            body = await request.json()
            found = self.matches.get(str(body.get("service_id")))
            if found is None:
                error = {"field": "service_id", "message": "no live service with this identity"}
                return JSONResponse({"title": "Unprocessable", "status": 422, "errors": [error]}, status_code=422)
            return JSONResponse(found)

        # another party's server, not ours (slm_shared.cli): asyncio's loop and uvicorn's strict parser, h11
        config = uvicorn.Config(api, host="127.0.0.1", port=self.port, loop="asyncio", http="h11", log_level="warning")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.thread.start()
        for _ in range(250):
            if self.server.started:
                return
            threading.Event().wait(0.02)
        raise RuntimeError("the catalog API did not start")

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)
