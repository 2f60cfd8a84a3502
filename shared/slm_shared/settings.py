"""Settings common to every service; each service subclasses with its own env prefix."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

DEVELOPMENT_JWT_SECRET = "development-only-secret-change-me-please-0123456789"

Environment = Literal["development", "test", "production"]


class ServiceSettings(BaseSettings):
    """Base settings: common fields read from `SLM_*`, the rest from the service's prefix."""

    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True)

    service_name: str = "service"
    environment: Environment = Field("development", validation_alias="SLM_ENVIRONMENT")
    data_dir: Path = Field(Path("var"), validation_alias="SLM_DATA_DIR")
    nats_url: str = Field("nats://127.0.0.1:4222", validation_alias="SLM_NATS_URL")
    jwt_secret: str = Field(DEVELOPMENT_JWT_SECRET, validation_alias="SLM_JWT_SECRET")
    jwks_url: str | None = Field(None, validation_alias="SLM_JWKS_URL")
    jwt_audience: str | None = Field(None, validation_alias="SLM_JWT_AUDIENCE")
    jwt_issuer: str | None = Field(None, validation_alias="SLM_JWT_ISSUER")
    log_level: str = Field("INFO", validation_alias="SLM_LOG_LEVEL")
    nats_stream_replicas: int = Field(1, ge=1, le=5, validation_alias="SLM_NATS_STREAM_REPLICAS")

    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = 1_048_576
    run_workers: bool = True
    serve_api: bool = Field(True, description="serve the /v1 API; false: a worker process (health and metrics only)")
    consumer_max_deliveries: int = 5
    consumer_retry_delay_seconds: float = 1.0
    outbox_poll_seconds: float = 1.0
    shutdown_grace_seconds: float = Field(5.0, gt=0, le=60)
    retention_interval_seconds: float = Field(3600.0, gt=0, description="how often the retention job runs")
    retention_batch_size: int = Field(2000, ge=1, le=100_000, description="rows deleted per transaction")
    outbox_retention_days: float = Field(7.0, gt=0, description="sent outbox rows are kept this long")
    inbox_retention_days: float = Field(14.0, gt=0, description="applied inbox rows are kept this long")
    idempotency_retention_days: float = Field(7.0, gt=0, description="Idempotency-Key responses are kept this long")

    @model_validator(mode="after")
    def _refuse_default_secret_outside_development(self) -> ServiceSettings:
        if self.environment == "production" and self.jwks_url is None and self.jwt_secret == DEVELOPMENT_JWT_SECRET:
            raise ValueError("SLM_JWT_SECRET is the development default; set a real secret or SLM_JWKS_URL")
        if self.environment == "production" and len(self.jwt_secret) < 32 and not self.jwks_url:
            raise ValueError("SLM_JWT_SECRET must be at least 32 characters in production")
        return self

    @property
    def resolved_database_url(self) -> str:
        """The configured database URL, or a SQLite file in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / (self.service_name + '.db')}"
