"""E-mail over SMTP (aiosmtplib): an HTML and a plain-text part, STARTTLS and auth as configured."""

from __future__ import annotations

import re
import ssl
import time
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid
from typing import TYPE_CHECKING, Literal

import aiosmtplib
from pydantic import BaseModel, ConfigDict, Field, model_validator

from slm_notifier.channels.base import AttemptOutcome, OutgoingMessage
from slm_shared.db import utcnow

if TYPE_CHECKING:
    from slm_notifier.config import Settings

EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
ContactRole = Literal["business_owner", "service_level_manager", "technical_contact"]


class ContactSelector(BaseModel):
    """Address the agreement's party contacts by role instead of fixed addresses."""

    model_config = ConfigDict(extra="forbid")

    party: Literal["consumer", "provider"] | None = Field(
        None,
        description="whose contacts: the agreement's consumer or provider; unset, the provider's for internal "
        "alerts (at risk, burn alerts, chain warnings) and the consumer's for everything else",
    )
    roles: list[ContactRole] = Field(
        default_factory=list,
        max_length=3,
        description="roles among the level-1 contacts reached first (all of level 1 when none has them)",
    )


class EmailTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    to: list[str] = Field(default_factory=list, max_length=50, description="fixed recipients")
    contacts: ContactSelector | None = Field(None, description="recipients taken from the agreement's party")

    @model_validator(mode="after")
    def _someone(self) -> EmailTarget:
        for address in self.to:
            if not re.match(EMAIL_PATTERN, address):
                raise ValueError(f"{address!r} is not an e-mail address")
        if not self.to and self.contacts is None:
            raise ValueError("give `to` addresses, `contacts`, or both")
        return self


@dataclass(frozen=True)
class SmtpSettings:
    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    implicit_tls: bool = False
    validate_certs: bool = True
    ca_file: str | None = None
    timeout_seconds: float = 10.0


def build_email(message: OutgoingMessage, sender: str) -> EmailMessage:
    """The MIME message: multipart/alternative with the plain text first and the HTML second."""
    assert message.content is not None, "the e-mail channel needs rendered content"
    email = EmailMessage()
    email["Subject"] = message.content.subject
    email["From"] = sender
    email["To"] = ", ".join(message.recipients)
    email["Date"] = format_datetime(utcnow())
    email["Message-ID"] = make_msgid(idstring=message.delivery_id.replace("-", ""), domain="slm.notifier")
    email["X-SLM-Delivery-Id"] = message.delivery_id
    email["X-SLM-Event-Type"] = message.event_type
    email.set_content(message.content.text)
    email.add_alternative(message.content.html, subtype="html")
    return email


class EmailChannel:
    """Sends one message per attempt to the configured SMTP server."""

    name = "email"
    target_model: type[BaseModel] = EmailTarget
    needs_content = True

    def __init__(self, smtp: SmtpSettings) -> None:
        self.smtp = smtp

    def _tls_context(self) -> ssl.SSLContext:
        context = ssl.create_default_context(cafile=self.smtp.ca_file)
        if not self.smtp.validate_certs:
            context.check_hostname = False
            context.verify_mode = ssl.CERT_NONE
        return context

    async def send(self, message: OutgoingMessage) -> AttemptOutcome:
        """Hand the message to the SMTP server; 5xx answers are permanent, the rest are retried."""
        if not message.recipients:
            return AttemptOutcome(succeeded=False, error="no recipients to send to", permanent=True)
        started = time.monotonic()
        try:
            await aiosmtplib.send(
                build_email(message, self.smtp.sender),
                hostname=self.smtp.host,
                port=self.smtp.port,
                username=self.smtp.username,
                password=self.smtp.password,
                start_tls=self.smtp.starttls and not self.smtp.implicit_tls,
                use_tls=self.smtp.implicit_tls,
                tls_context=self._tls_context() if (self.smtp.starttls or self.smtp.implicit_tls) else None,
                timeout=self.smtp.timeout_seconds,
            )
            outcome = AttemptOutcome(succeeded=True, status_code=250)
        except aiosmtplib.SMTPRecipientsRefused as exc:
            codes = [error.code for error in exc.recipients]
            outcome = AttemptOutcome(
                succeeded=False,
                status_code=max(codes, default=None),
                error=f"recipients refused: {exc}",
                permanent=all(code >= 500 for code in codes),
            )
        except aiosmtplib.SMTPResponseException as exc:
            outcome = AttemptOutcome(
                succeeded=False,
                status_code=exc.code,
                error=f"SMTP {exc.code}: {exc.message}",
                permanent=exc.code >= 500,
            )
        except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
            outcome = AttemptOutcome(succeeded=False, error=f"{type(exc).__name__}: {exc}")
        return AttemptOutcome(**{**outcome.__dict__, "duration_ms": int((time.monotonic() - started) * 1000)})

    async def close(self) -> None:
        """Each attempt opens and closes its own SMTP connection."""


def smtp_settings(settings: Settings) -> SmtpSettings:
    """The SMTP server the e-mail channel uses, from the settings."""
    return SmtpSettings(
        host=settings.smtp_host,
        port=settings.smtp_port,
        sender=settings.smtp_from,
        username=settings.smtp_username,
        password=settings.smtp_password.get_secret_value() if settings.smtp_password else None,
        starttls=settings.smtp_starttls,
        implicit_tls=settings.smtp_tls,
        validate_certs=settings.smtp_validate_certs,
        ca_file=settings.smtp_ca_file,
        timeout_seconds=settings.attempt_timeout_seconds,
    )
