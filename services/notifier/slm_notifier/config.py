"""Notifier settings, read from `NOTIFIER_*` (and the common `SLM_*`) variables."""

from __future__ import annotations

import hashlib
import hmac

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import SettingsConfigDict

from slm_notifier.crypto import DEVELOPMENT_SECRET_KEY, Keyring
from slm_shared.settings import DEVELOPMENT_JWT_SECRET, MIN_SECRET_CHARS, ServiceSettings, retention_days


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
    delivery_poll_seconds: float = Field(5.0, gt=0, description="the sweep behind commit wake-ups and retry timers")
    max_per_subscription: int = Field(4, ge=1, description="attempts in flight to one subscription at most")
    delivery_retention_days: float = retention_days(90.0, "finished deliveries kept this long")
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
    change_poll_seconds: float = Field(
        60.0, gt=0, le=86_400, description="how often the status of each open request for change is read from the tool"
    )
    public_url: str = Field("http://127.0.0.1:8104", description="base of the acknowledge links in messages")
    ack_link_secret: SecretStr | None = Field(
        None, description="signs acknowledge links; required in production, derived from the JWT secret otherwise"
    )
    ack_link_ttl_seconds: int = Field(7 * 86_400, ge=60)
    secret_keys: SecretStr | None = Field(
        None,
        description="comma-separated Fernet keys encrypting stored credentials; the first encrypts, any decrypts;"
        " required in production",
    )

    agreements_url: str = "http://127.0.0.1:8102"
    agreements_timeout_seconds: float = Field(5.0, gt=0)
    contact_retry_seconds: float = Field(
        60.0, gt=0, le=86_400, description="a failed contact lookup during escalation is retried after this long"
    )
    chase_max_reminders: int = Field(
        30, ge=1, le=10_000, description="an overdue action's owner is reminded at most this often, then the chase ends"
    )

    @model_validator(mode="after")
    def _production_keys_of_its_own(self) -> Settings:
        keyring = self.keyring  # a malformed key is refused in every environment
        if self.environment != "production":
            return self
        link = self.ack_link_secret.get_secret_value() if self.ack_link_secret else ""
        if len(link) < MIN_SECRET_CHARS or link in (DEVELOPMENT_JWT_SECRET, self.jwt_secret):
            raise ValueError(
                f"NOTIFIER_ACK_LINK_SECRET must be set in production: at least {MIN_SECRET_CHARS} characters,"
                " not the development or the JWT secret"
            )
        if self.secret_keys is None or keyring.uses(DEVELOPMENT_SECRET_KEY):
            raise ValueError("NOTIFIER_SECRET_KEYS must be set in production, without the development key")
        return self

    @property
    def keyring(self) -> Keyring:
        """The keys that encrypt stored credentials (the development key when none are set)."""
        if self.secret_keys is None:
            return Keyring.of(DEVELOPMENT_SECRET_KEY)
        return Keyring.of(self.secret_keys.get_secret_value())

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
