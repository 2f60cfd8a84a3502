"""Catalog HTTP API: one router per sub-domain."""

from __future__ import annotations

from slm_catalog.calendars.router import router as calendars_router
from slm_catalog.dependencies.router import router as dependencies_router
from slm_catalog.indicators.router import router as indicators_router
from slm_catalog.matching.router import router as matching_router
from slm_catalog.offerings.router import router as offerings_router
from slm_catalog.offerings.views import router as views_router
from slm_catalog.services.router import router as services_router
from slm_catalog.transfer.router import router as transfer_router

# Included in the app one by one, not through a router of routers: FastAPI matches every level of inclusion
# on each request (twice: to choose the router, then within it), which cost a hot read more than its body.
ROUTERS = (
    services_router,
    dependencies_router,
    indicators_router,
    calendars_router,
    offerings_router,
    views_router,
    matching_router,
    transfer_router,
)
