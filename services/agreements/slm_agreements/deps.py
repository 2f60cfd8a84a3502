"""Dependency aliases specific to the agreements service."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Request

from slm_agreements.catalog import CatalogClient


def catalog_client(request: Request) -> CatalogClient:
    """A catalog client acting with the caller's own bearer token."""
    settings = request.app.state.settings
    return CatalogClient(
        base_url=settings.catalog_url,
        timeout=settings.catalog_timeout_seconds,
        authorization=request.headers.get("authorization"),
    )


CatalogDep = Annotated[CatalogClient, Depends(catalog_client)]
