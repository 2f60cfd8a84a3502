"""Small helpers every catalog sub-domain uses."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from slm_shared.auth import Principal
from slm_shared.errors import FieldError, NotFound, Unprocessable

Slug = Annotated[str, Field(pattern=r"^[a-z0-9][a-z0-9_-]{0,62}$", description="lowercase key, unique per tenant")]


def invalid(field: str, message: str, detail: str | None = None) -> Unprocessable:
    """A 422 problem naming one field."""
    return Unprocessable(detail or f"{field}: {message}", errors=[FieldError(field=field, message=message)])


def invalid_fields(problems: dict[str, str], detail: str = "The request cannot be accepted") -> Unprocessable:
    """A 422 problem naming every field in `problems`."""
    errors = [FieldError(field=field, message=message) for field, message in problems.items()]
    return Unprocessable(f"{detail}: " + "; ".join(f"{e.field}: {e.message}" for e in errors[:5]), errors=errors)


def not_found(what: str, identifier: str) -> NotFound:
    return NotFound(f"No {what} {identifier}")


def customer_only(principal: Principal) -> bool:
    """Whether the caller sees only the live, published catalogue."""
    return principal.is_customer_only
