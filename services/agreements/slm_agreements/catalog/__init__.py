"""The catalogue as this service sees it: a read model fed by events, with the REST API as fallback."""

from slm_agreements.catalog.client import CatalogClient, CatalogUnavailable
from slm_agreements.catalog.read_model import ensure_offering, store_published_offering, store_service

__all__ = ["CatalogClient", "CatalogUnavailable", "ensure_offering", "store_published_offering", "store_service"]
