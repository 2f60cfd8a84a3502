"""Trace context travels from the request that wrote an event to the consumer that applies it."""

from __future__ import annotations

import asyncio
import uuid

import httpx
import pytest
from fastapi import FastAPI
from opentelemetry import trace
from sqlalchemy import select

from slm_shared.bus import Bus, Consumer, OutboxMessage, OutboxRelay, record_event
from slm_shared.contracts import EVENTS, CloudEvent
from slm_shared.contracts.payloads import ServiceCreatedV1
from slm_shared.db import Database
from slm_shared.telemetry import TraceContextMiddleware, exporting, setup_tracing


async def test_consumer_continues_the_producers_trace(db: Database, bus: Bus) -> None:
    setup_tracing("trace-test")
    tracer = trace.get_tracer("test")
    seen: dict[str, int] = {}

    async def handler(session: object, event: CloudEvent) -> None:
        seen[event.id] = trace.get_current_span().get_span_context().trace_id

    consumer = Consumer(db, bus, name=f"trace-{uuid.uuid4().hex[:6]}", handlers={EVENTS.service_created.type: handler})
    task = asyncio.create_task(consumer.run())
    try:
        with tracer.start_as_current_span("http request") as span:
            trace_id = span.get_span_context().trace_id
            async with db.session() as session:
                event = record_event(
                    session,
                    EVENTS.service_created,
                    tenant="acme",
                    data=ServiceCreatedV1(service_id="s-1", key="traced", name="Traced"),
                )
        async with db.session() as session:
            row = await session.scalar(select(OutboxMessage).where(OutboxMessage.event_id == event.id))
        assert row is not None and format(trace_id, "032x") in row.headers["traceparent"]

        await OutboxRelay(db, bus).relay_once()
        for _ in range(200):
            if event.id in seen:
                break
            await asyncio.sleep(0.05)
        assert seen[event.id] == trace_id
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)  # ended before the database is disposed


async def test_an_incoming_trace_is_carried_on_without_an_exporter(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OTEL_TRACES_EXPORTER", raising=False)
    assert not exporting()
    app = FastAPI()
    app.add_middleware(TraceContextMiddleware)

    @app.get("/trace")
    async def current_trace() -> dict[str, str]:
        return {"trace_id": format(trace.get_current_span().get_span_context().trace_id, "032x")}

    trace_id = uuid.uuid4().hex
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://test") as client:
        traced = await client.get("/trace", headers={"traceparent": f"00-{trace_id}-{'ab' * 8}-01"})
        untraced = await client.get("/trace")
    assert traced.json() == {"trace_id": trace_id}
    assert untraced.json() != {"trace_id": trace_id}
