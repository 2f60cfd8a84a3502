"""Notifier settings, read from `NOTIFIER_*` (and the common `SLM_*`) variables."""

import hashlib
import hmac

from pydantic import Field, SecretStr
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
    max_per_subscription: int = Field(4, ge=1, description="attempts in flight to one subscription at most")
    claim_lease_seconds: float = Field(
        10.0,
        ge=1,
        le=3600,
        description="a claimed delivery is reserved this long, renewed while its attempt runs; after a crash "
        "another worker may take it once it ends",
    )

    smtp_host: str = "127.0.0.1"
    smtp_port: int = Field(25, ge=1, le=65535)
    smtp_from: str = "slm-notifier@localhost"
    smtp_username: str | None = None
    smtp_password: SecretStr | None = None
    smtp_starttls: bool = False
    smtp_tls: bool = Field(False, description="implicit TLS (port 465) instead of STARTTLS")
    smtp_validate_certs: bool = True
    smtp_ca_file: str | None = None

    escalation_seconds: int = Field(3600, ge=1, description="unacknowledged breaches escalate after this long")
    escalation_poll_seconds: float = Field(5.0, gt=0)
    public_url: str = Field("http://127.0.0.1:8104", description="base of the acknowledge links in messages")
    ack_link_secret: SecretStr | None = Field(None, description="signs acknowledge links; derived from the JWT secret")
    ack_link_ttl_seconds: int = Field(7 * 86_400, ge=60)

    agreements_url: str = "http://127.0.0.1:8102"
    agreements_timeout_seconds: float = Field(5.0, gt=0)

    @property
    def private_targets_allowed(self) -> bool:
        """Whether targets in private address ranges may be called."""
        if self.allow_private_targets is not None:
            return self.allow_private_targets
        return self.environment in ("development", "test")

    @property
    def ack_signing_key(self) -> bytes:
        """The key of acknowledge links: the configured one, or one derived from the JWT secret."""
        if self.ack_link_secret is not None:
            return self.ack_link_secret.get_secret_value().encode()
        return hmac.new(self.jwt_secret.encode(), b"slm-notifier-acknowledge", hashlib.sha256).digest()
