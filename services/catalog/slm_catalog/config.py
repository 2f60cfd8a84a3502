"""Catalog settings, read from `CATALOG_*` (and the common `SLM_*`) variables."""

from pydantic_settings import SettingsConfigDict

from slm_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="CATALOG_", extra="ignore", populate_by_name=True)

    service_name: str = "catalog"
    port: int = 8101
