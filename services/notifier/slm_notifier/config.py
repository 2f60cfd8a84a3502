"""Notifier settings, read from `NOTIFIER_*` (and the common `SLM_*`) variables."""

from pydantic import Field
from pydantic_settings import SettingsConfigDict

from slm_shared.settings import ServiceSettings


class Settings(ServiceSettings):
    model_config = SettingsConfigDict(env_prefix="NOTIFIER_", extra="ignore", populate_by_name=True)

    service_name: str = "notifier"
    port: int = 8104

    allow_private_targets: bool | None = Field(
        None, description="deliver to private/loopback addresses; default: allowed outside production"
    )
    secret_rotation_grace_seconds: float = Field(86_400, ge=0)
    retry_base_seconds: float = Field(2.0, gt=0)
    retry_max_seconds: float = Field(3_600, gt=0)
    retry_after_max_seconds: float = Field(86_400, gt=0)
    max_attempts: int = Field(8, ge=1)
    max_concurrency: int = Field(16, ge=1)
    attempt_timeout_seconds: float = Field(10.0, gt=0)
    delivery_poll_seconds: float = Field(1.0, gt=0)

    @property
    def private_targets_allowed(self) -> bool:
        """Whether targets in private address ranges may be called."""
        if self.allow_private_targets is not None:
            return self.allow_private_targets
        return self.environment in ("development", "test")

    @property
    def claim_lease_seconds(self) -> float:
        """How long a claimed delivery stays reserved before another worker may take it."""
        return self.attempt_timeout_seconds * 2 + 30
