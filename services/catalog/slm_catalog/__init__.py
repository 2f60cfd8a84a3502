"""Catalog service: the services a provider offers and their priced service-level tiers."""
