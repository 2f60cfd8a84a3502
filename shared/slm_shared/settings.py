"""Settings common to every service; each service subclasses with its own env prefix."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path
from typing import Any, Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from slm_shared.bus.connection import NatsCredentials

MAX_RETENTION_DAYS = 36_500  # a hundred years: a finite span every date computed from it can hold


def retention_days(default: float, description: str) -> Any:
    """A retention setting in days: positive, finite (no `inf` or `nan`) and at most MAX_RETENTION_DAYS."""
    return Field(default, gt=0, le=MAX_RETENTION_DAYS, allow_inf_nan=False, description=description)


DEVELOPMENT_JWT_SECRET = "development-only-secret-change-me-please-0123456789"
MIN_SECRET_CHARS = 32

Environment = Literal["development", "test", "production"]


class ServiceSettings(BaseSettings):
    """Base settings: common fields read from `SLM_*`, the rest from the service's prefix."""

    # A refusal at start-up names the setting, never prints the values (secrets among them).
    model_config = SettingsConfigDict(extra="ignore", populate_by_name=True, hide_input_in_errors=True)

    service_name: str = "service"
    environment: Environment = Field("development", validation_alias="SLM_ENVIRONMENT")
    data_dir: Path = Field(Path("var"), validation_alias="SLM_DATA_DIR")
    nats_url: str = Field("nats://127.0.0.1:4222", validation_alias="SLM_NATS_URL")
    jwt_secret: str = Field(DEVELOPMENT_JWT_SECRET, validation_alias="SLM_JWT_SECRET")
    jwks_url: str | None = Field(None, validation_alias="SLM_JWKS_URL")
    jwt_audience: str | None = Field(None, validation_alias="SLM_JWT_AUDIENCE")
    jwt_issuer: str | None = Field(None, validation_alias="SLM_JWT_ISSUER")
    service_token_secret: SecretStr | None = Field(
        None,
        validation_alias="SLM_SERVICE_TOKEN_SECRET",
        description="signs the tokens services send each other; required in production, derived otherwise",
    )
    log_level: str = Field("INFO", validation_alias="SLM_LOG_LEVEL")
    nats_stream_replicas: int = Field(1, ge=1, le=5, validation_alias="SLM_NATS_STREAM_REPLICAS")

    database_url: str | None = None
    host: str = "127.0.0.1"
    port: int = 8000
    max_body_bytes: int = 1_048_576
    run_workers: bool = True
    serve_api: bool = Field(True, description="serve the /v1 API; false: a worker process (health and metrics only)")
    nats_user: str | None = Field(None, description="NATS user this service logs in as")
    nats_password: str | None = Field(None, description="its NATS password")
    nats_tls_ca: Path | None = Field(None, description="CA that signed the NATS server certificate (enables TLS)")
    nats_tls_cert: Path | None = Field(None, description="client certificate for NATS TLS")
    nats_tls_key: Path | None = Field(None, description="its private key")
    consumer_max_deliveries: int = Field(5, ge=1, le=1000)
    consumer_retry_delay_seconds: float = 1.0
    # the sweep behind the commit wake-up: rows of other processes, of a crashed round or of a lost hand-over
    outbox_poll_seconds: float = Field(5.0, gt=0)
    outbox_max_attempts: int = Field(20, ge=1, le=10_000, description="publish attempts before a row is given up")
    shutdown_grace_seconds: float = Field(5.0, gt=0, le=60)
    retention_interval_seconds: float = Field(3600.0, gt=0, description="how often the retention job runs")
    retention_batch_size: int = Field(2000, ge=1, le=100_000, description="rows deleted per transaction")
    outbox_retention_days: float = retention_days(7.0, "sent outbox rows are kept this long")
    inbox_retention_days: float = retention_days(14.0, "applied inbox rows are kept this long")
    idempotency_retention_days: float = retention_days(7.0, "Idempotency-Key responses are kept this long")

    @model_validator(mode="after")
    def _refuse_default_secret_outside_development(self) -> ServiceSettings:
        if self.environment != "production":
            return self
        if self.jwks_url is None and self.jwt_secret == DEVELOPMENT_JWT_SECRET:
            raise ValueError("SLM_JWT_SECRET is the development default; set a real secret or SLM_JWKS_URL")
        if self.jwks_url is None and len(self.jwt_secret) < MIN_SECRET_CHARS:
            raise ValueError(f"SLM_JWT_SECRET must be at least {MIN_SECRET_CHARS} characters in production")
        if not self.jwt_audience:
            raise ValueError("SLM_JWT_AUDIENCE must be set in production: tokens minted for another API are refused")
        service = self.service_token_secret.get_secret_value() if self.service_token_secret else ""
        if len(service) < MIN_SECRET_CHARS:
            raise ValueError(
                f"SLM_SERVICE_TOKEN_SECRET must be set to at least {MIN_SECRET_CHARS} characters in production"
            )
        if service in (DEVELOPMENT_JWT_SECRET, self.jwt_secret):
            raise ValueError("SLM_SERVICE_TOKEN_SECRET must be its own secret, not the development or the JWT secret")
        return self

    @property
    def service_token_key(self) -> str:
        """The key of service-to-service tokens: the configured one, or (outside production) one derived."""
        if self.service_token_secret is not None:
            return self.service_token_secret.get_secret_value()
        return hmac.new(self.jwt_secret.encode(), b"slm-service-token", hashlib.sha256).hexdigest()

    @property
    def nats_credentials(self) -> NatsCredentials:
        """How this service logs in to NATS."""
        return NatsCredentials(
            user=self.nats_user,
            password=self.nats_password,
            tls_ca=self.nats_tls_ca,
            tls_cert=self.nats_tls_cert,
            tls_key=self.nats_tls_key,
        )

    @property
    def resolved_database_url(self) -> str:
        """The configured database URL, or a SQLite file in the data folder."""
        if self.database_url:
            return self.database_url
        return f"sqlite+aiosqlite:///{self.data_dir / (self.service_name + '.db')}"
