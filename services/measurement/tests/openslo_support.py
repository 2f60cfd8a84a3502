"""What the OpenSLO removal tests share: a loopback Prometheus with no data, consuming applies and removals, pulls."""

from __future__ import annotations

import json
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import httpx
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from slm_measurement.pull.models import DataSource, PulledSeries
from slm_measurement.pull.openslo import on_openslo_applied, on_openslo_removed
from slm_measurement.pull.service import pull_due
from slm_shared.contracts import EVENTS, CloudEvent
from slm_shared.db import Database

EMPTY = json.dumps({"status": "success", "data": {"resultType": "matrix", "result": []}}).encode()


class EmptyPrometheus:
    """A loopback Prometheus answering every range query with no data, keeping each query's path and Authorization."""

    def __init__(self) -> None:
        self.seen: list[tuple[str, str | None]] = []
        seen = self.seen

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                seen.append((self.path, self.headers.get("Authorization")))
                self.send_response(200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(EMPTY)))
                self.end_headers()
                self.wfile.write(EMPTY)

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def asked(self) -> int:
        """How many queries it answered."""
        return len(self.seen)

    def asked_for(self, metric: str) -> int:
        """How many of its queries named `metric`."""
        return sum(metric in path for path, _ in self.seen)

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def at(event: CloudEvent, seconds: int) -> CloudEvent:
    """The event as if it happened `seconds` after it did."""
    return event.model_copy(update={"time": event.time + timedelta(seconds=seconds)})


async def handle(db: Database, event: CloudEvent) -> None:
    """Consume an applied or removed OpenSLO event in a transaction of its own, as the consumer does."""
    async with db.session() as session:
        handler = on_openslo_removed if event.type == EVENTS.openslo_removed.type else on_openslo_applied
        await handler(session, event)


async def pull(db: Database) -> None:
    """Pull every series that is due, once."""
    async with db.session() as session, httpx.AsyncClient() as client:
        await pull_due(session, client, max_lateness=timedelta(days=1), first_lookback=timedelta(minutes=10))


async def tenant_source(session: AsyncSession, tenant: str) -> DataSource:
    """The tenant's one data source."""
    source = await session.scalar(select(DataSource).where(DataSource.tenant == tenant))
    assert source is not None
    return source


def by_hand(tenant: str, source_id: str, indicator: str, value_query: str) -> PulledSeries:
    """A series pulled over the API, never applied."""
    return PulledSeries(
        tenant=tenant, data_source_id=source_id, service_key="orders", indicator=indicator, value_query=value_query
    )
