"""Prometheus metrics: request counts and latencies by route, plus messaging counters."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily
from prometheus_client.registry import Collector
from starlette.types import ASGIApp, Message, Receive, Scope, Send


class HttpMetrics:
    """The metrics one app exposes; each app has its own registry."""

    def __init__(self, service: str) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "slm_http_requests", "HTTP requests", ["service", "method", "route", "status"], registry=self.registry
        )
        self.latency = Histogram(
            "slm_http_request_duration_seconds",
            "HTTP request latency",
            ["service", "method", "route"],
            registry=self.registry,
        )
        self.service = service
        # The labelled children by (method, route, status): `labels()` takes a lock and builds a key per call,
        # every request. Their number is that of the label sets Prometheus already keeps.
        self._children: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe(self, method: str, route: str, status: int, seconds: float) -> None:
        """Count one request and its latency under its route template (a method outside HTTP's own as `other`)."""
        if method not in _METHODS:
            method = "other"  # routing answers any method (405) before a token check: no label set per made-up name
        children = self._children.get((method, route, status))
        if children is None:
            children = (
                self.requests.labels(self.service, method, route, str(status)),
                self.latency.labels(self.service, method, route),
            )
            self._children[(method, route, status)] = children
        children[0].inc()
        children[1].observe(seconds)

    def add_counter_source(self, name: str, documentation: str, read: Callable[[], float]) -> None:
        """Expose a counter whose value is read at scrape time (e.g. events published)."""

        class _Source(Collector):
            def collect(self):  # type: ignore[no-untyped-def]
                family = CounterMetricFamily(name, documentation)
                family.add_metric([], read())
                yield family

        self.registry.register(_Source())


_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "TRACE", "CONNECT"})


class MetricsMiddleware:
    """Counts and times each request under its route template, not its raw path."""

    def __init__(self, app: ASGIApp, metrics: HttpMetrics) -> None:
        self.app = app
        self.metrics = metrics

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start = time.perf_counter()
        status = 500

        async def send_wrapper(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        finally:
            self.metrics.observe(scope["method"], _route_template(scope), status, time.perf_counter() - start)


def _route_template(scope: Scope) -> str:
    route = scope.get("route")  # set by the router on the shared scope once a route matched
    return str(getattr(route, "path", "unmatched"))


def metrics_router(metrics: HttpMetrics) -> APIRouter:
    router = APIRouter(tags=["operations"])

    @router.get("/metrics", include_in_schema=True, response_class=Response)
    async def prometheus_metrics(_: Request) -> Response:
        """Prometheus text exposition of this service's metrics."""
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    return router
