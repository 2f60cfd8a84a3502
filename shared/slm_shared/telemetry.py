"""OpenTelemetry tracing and structured logs that carry the trace id."""

from __future__ import annotations

import json
import logging
import os
import sys
from typing import Any

from fastapi import FastAPI
from opentelemetry import context as otel_context
from opentelemetry import propagate, trace
from opentelemetry.sdk.resources import Resource
from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import BatchSpanProcessor, ConsoleSpanExporter, SpanExporter
from sqlalchemy.ext.asyncio import AsyncEngine
from starlette.types import ASGIApp, Receive, Scope, Send

_configured = False


def _exporter_from_env() -> SpanExporter | None:
    """The exporter named by OTEL_TRACES_EXPORTER (otlp, console); none by default."""
    name = os.environ.get("OTEL_TRACES_EXPORTER", "none").strip().lower()
    if name == "otlp":
        from opentelemetry.exporter.otlp.proto.http.trace_exporter import OTLPSpanExporter

        return OTLPSpanExporter()
    if name == "console":
        return ConsoleSpanExporter()
    return None


def exporting() -> bool:
    """Whether spans go anywhere (OTEL_TRACES_EXPORTER names an exporter)."""
    return os.environ.get("OTEL_TRACES_EXPORTER", "none").strip().lower() in ("otlp", "console")


def setup_tracing(service_name: str) -> None:
    """Install a tracer provider once per process; instrument httpx only when spans are exported."""
    global _configured
    if _configured:
        return
    resource = Resource.create({"service.name": os.environ.get("OTEL_SERVICE_NAME", service_name)})
    provider = TracerProvider(resource=resource)
    exporter = _exporter_from_env()
    if exporter is not None:
        provider.add_span_processor(BatchSpanProcessor(exporter))
    trace.set_tracer_provider(provider)
    if exporting():
        from opentelemetry.instrumentation.httpx import HTTPXClientInstrumentor

        HTTPXClientInstrumentor().instrument()
    _configured = True


def instrument_app(app: FastAPI, engine: AsyncEngine) -> None:
    """Trace the app's requests and its database calls, when spans are exported.

    With no exporter, spans per request and per query would cost CPU for nothing; an incoming
    trace context is still carried on (see TraceContextMiddleware), so events and logs keep it.
    """
    if not exporting():
        return
    from opentelemetry.instrumentation.fastapi import FastAPIInstrumentor
    from opentelemetry.instrumentation.sqlalchemy import SQLAlchemyInstrumentor

    FastAPIInstrumentor.instrument_app(app, excluded_urls="healthz,readyz,metrics")
    SQLAlchemyInstrumentor().instrument(engine=engine.sync_engine)


class TraceContextMiddleware:
    """Adopt a request's `traceparent` as the current context without recording spans."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        carrier = {
            name.decode("latin-1"): value.decode("latin-1")
            for name, value in scope.get("headers", ())
            if name in (b"traceparent", b"tracestate")
        }
        if not carrier:
            await self.app(scope, receive, send)
            return
        token = otel_context.attach(propagate.extract(carrier))
        try:
            await self.app(scope, receive, send)
        finally:
            otel_context.detach(token)


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line, with the current trace and span ids."""

    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        span = trace.get_current_span().get_span_context()
        entry: dict[str, Any] = {
            "time": self.formatTime(record, "%Y-%m-%dT%H:%M:%S"),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "message": record.getMessage(),
        }
        if span.is_valid:
            entry["trace_id"] = format(span.trace_id, "032x")
            entry["span_id"] = format(span.span_id, "016x")
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def setup_logging(service: str, level: str = "INFO") -> None:
    """Structured logs on stderr."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonLogFormatter(service))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    logging.getLogger("nats").setLevel(logging.WARNING)
    # httpx logs each request's URL at INFO; a Slack or Teams incoming-webhook URL is a credential
    logging.getLogger("httpx").setLevel(logging.WARNING)
