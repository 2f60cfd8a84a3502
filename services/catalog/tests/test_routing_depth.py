"""The catalog's routers are included in the app one by one: a request is matched through one level of
inclusion, not a router of routers (FastAPI matches every level on each request)."""

from __future__ import annotations

from fastapi.routing import APIRoute

from slm_catalog.config import Settings
from slm_catalog.main import build_app


def test_every_included_router_holds_routes_only() -> None:
    app = build_app(Settings(database_url="sqlite+aiosqlite:///unused.db", environment="test"))
    included = [route for route in app.router.routes if hasattr(route, "original_router")]
    assert included, "the app includes its routers"
    for inclusion in included:
        inner = inclusion.original_router.routes  # type: ignore[attr-defined]
        nested = [route for route in inner if hasattr(route, "original_router")]
        assert not nested, f"a router of routers: {[r.original_router.prefix for r in nested]}"
    paths = {route.path for inclusion in included for route in inclusion.original_router.routes}  # type: ignore[attr-defined]
    assert {"/v1/services", "/v1/services/{service_id}", "/v1/offerings"} <= paths
    assert any(isinstance(route, APIRoute) for inclusion in included for route in inclusion.original_router.routes)  # type: ignore[attr-defined]
