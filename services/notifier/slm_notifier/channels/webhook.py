"""The generic webhook channel: Standard Webhooks signed JSON over HTTP(S), no redirects."""

from __future__ import annotations

import asyncio
import json
import time
from datetime import datetime
from email.utils import parsedate_to_datetime
from typing import Any

import httpx
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field

from slm_notifier.channels.base import AttemptOutcome, OutgoingMessage
from slm_notifier.signing import signature_header
from slm_notifier.targets import TargetRefused, resolve_target
from slm_shared.db import utcnow

USER_AGENT = "slm-notifier/0.1"
ERROR_BODY_CHARS = 300


class WebhookTarget(BaseModel):
    model_config = ConfigDict(extra="forbid")

    url: AnyHttpUrl = Field(description="http(s) URL that receives the POST")


def webhook_body(message: OutgoingMessage) -> str:
    """The JSON body: `type`, `timestamp` and `data` (the payload with event id and tenant)."""
    data: dict[str, Any] = {**message.payload, "event_id": message.event_id, "tenant": message.tenant}
    body = {"type": message.event_type, "timestamp": message.event_time.isoformat(), "data": data}
    return json.dumps(body, separators=(",", ":"), default=str)


class WebhookChannel:
    """Sends one signed POST per attempt to the address the target host resolved to."""

    name: str = "webhook"
    target_model: type[BaseModel] = WebhookTarget

    def __init__(self, *, allow_private_targets: bool, timeout_seconds: float) -> None:
        self.allow_private_targets = allow_private_targets
        self.timeout_seconds = timeout_seconds
        self._ssl = httpx.create_ssl_context()

    async def send(self, message: OutgoingMessage) -> AttemptOutcome:
        """Make one attempt; every failure becomes an outcome, never an exception."""
        started = time.monotonic()
        try:
            async with asyncio.timeout(self.timeout_seconds):
                outcome = await self._send(message)
        except TargetRefused as exc:
            outcome = AttemptOutcome(succeeded=False, error=str(exc), permanent=True)
        except TimeoutError:
            outcome = AttemptOutcome(succeeded=False, error=f"no response within {self.timeout_seconds:g}s")
        except (httpx.HTTPError, LookupError, OSError) as exc:
            outcome = AttemptOutcome(succeeded=False, error=f"{type(exc).__name__}: {exc}".strip())
        duration_ms = int((time.monotonic() - started) * 1000)
        return AttemptOutcome(**{**outcome.__dict__, "duration_ms": duration_ms})

    async def _send(self, message: OutgoingMessage) -> AttemptOutcome:
        url = httpx.URL(str(message.target["url"]))
        if url.scheme not in ("http", "https") or not url.host:
            raise TargetRefused(f"target URL {url} is not an absolute http(s) URL")
        port = url.port or (443 if url.scheme == "https" else 80)
        resolved = await resolve_target(url.host, port, allow_private=self.allow_private_targets)
        body = webhook_body(message)
        now = utcnow()
        headers = {
            "Host": url.netloc.decode("ascii"),
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "webhook-id": message.delivery_id,
            "webhook-timestamp": str(int(now.timestamp())),
            "webhook-signature": signature_header(
                message.secrets, msg_id=message.delivery_id, timestamp=now, body=body
            ),
        }
        extensions = {"sni_hostname": url.host} if url.scheme == "https" else {}
        async with httpx.AsyncClient(
            verify=self._ssl, trust_env=False, follow_redirects=False, timeout=self.timeout_seconds
        ) as client:
            request = client.build_request(
                "POST",
                url.copy_with(host=resolved.address),
                content=body.encode(),
                headers=headers,
                extensions=extensions,
            )
            response = await client.send(request, stream=True)
            try:
                snippet = await _read_snippet(response)
            finally:
                await response.aclose()
        return _outcome_for(response, snippet)

    async def close(self) -> None:
        """Nothing to release: each attempt uses its own connection to the address it resolved."""


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds to wait from a Retry-After header (delta-seconds or HTTP date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max((when - now).total_seconds(), 0.0)


async def _read_snippet(response: httpx.Response) -> str:
    collected = b""
    async for chunk in response.aiter_raw():
        collected += chunk
        if len(collected) >= ERROR_BODY_CHARS:
            break
    return collected[:ERROR_BODY_CHARS].decode("utf-8", errors="replace")


def _outcome_for(response: httpx.Response, snippet: str) -> AttemptOutcome:
    code = response.status_code
    if 200 <= code < 300:
        return AttemptOutcome(succeeded=True, status_code=code)
    if code == 410:
        return AttemptOutcome(
            succeeded=False,
            status_code=code,
            error="receiver answered 410 Gone; the subscription was disabled",
            permanent=True,
            disable_subscription=True,
        )
    if 300 <= code < 400:
        error = f"HTTP {code}: redirect to {response.headers.get('location', '?')} not followed"
    else:
        error = f"HTTP {code}" + (f": {snippet}" if snippet else "")
    retry_after = parse_retry_after(response.headers.get("retry-after"), utcnow())
    return AttemptOutcome(succeeded=False, status_code=code, error=error, retry_after_seconds=retry_after)
