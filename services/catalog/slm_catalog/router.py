"""Catalog HTTP API: one router per sub-domain."""

from __future__ import annotations

from fastapi import APIRouter

from slm_catalog.calendars.router import router as calendars_router
from slm_catalog.dependencies.router import router as dependencies_router
from slm_catalog.indicators.router import router as indicators_router
from slm_catalog.matching.router import router as matching_router
from slm_catalog.offerings.router import router as offerings_router
from slm_catalog.offerings.views import router as views_router
from slm_catalog.services.router import router as services_router
from slm_catalog.transfer.router import router as transfer_router

router = APIRouter()
for sub_router in (
    services_router,
    dependencies_router,
    indicators_router,
    calendars_router,
    offerings_router,
    views_router,
    matching_router,
    transfer_router,
):
    router.include_router(sub_router)
