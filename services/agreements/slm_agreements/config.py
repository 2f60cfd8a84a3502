"""Agreements settings, read from `AGREEMENTS_*` (and the common `SLM_*`) variables."""

from pydantic_settings import SettingsConfigDict

from slm_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="AGREEMENTS_", extra="ignore", populate_by_name=True)

    service_name: str = "agreements"
    port: int = 8102
    catalog_url: str = "http://127.0.0.1:8101"
    catalog_timeout_seconds: float = 5.0
    jobs_interval_seconds: float = 60.0
    review_notice_days: int = 14
    renewal_reminder_days: int = 30
