"""The Prometheus HTTP API's range query, with its three ways of failing told apart."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx

from slm_measurement.pull.models import NO_DATA, QUERY_ERROR, SOURCE_DOWN


class PullFailed(Exception):
    """The source could not be reached (`source_down`) or refused the query (`query_error`)."""

    def __init__(self, state: str, detail: str) -> None:
        super().__init__(detail)
        self.state = state
        self.detail = detail


async def query_range(
    client: httpx.AsyncClient,
    *,
    url: str,
    query: str,
    start: datetime,
    end: datetime,
    step: int,
    headers: dict[str, str] | None = None,
) -> dict[int, float]:
    """The query's value at each step from start to end (series summed); empty when there is no data."""
    params = {"query": query, "start": f"{start.timestamp():.3f}", "end": f"{end.timestamp():.3f}", "step": str(step)}
    try:
        response = await client.get(f"{url.rstrip('/')}/api/v1/query_range", params=params, headers=headers or {})
    except httpx.HTTPError as exc:
        raise PullFailed(SOURCE_DOWN, f"{type(exc).__name__}: {exc}") from None
    if response.status_code >= 500 or response.status_code in (401, 403, 404):
        raise PullFailed(SOURCE_DOWN, f"HTTP {response.status_code} from {url}")
    try:
        body: dict[str, Any] = response.json()
    except ValueError:
        raise PullFailed(SOURCE_DOWN, f"HTTP {response.status_code}: not a Prometheus answer") from None
    if body.get("status") != "success":
        raise PullFailed(QUERY_ERROR, f"{body.get('errorType', 'error')}: {body.get('error', response.text[:200])}")
    if body.get("data", {}).get("resultType") != "matrix":
        raise PullFailed(QUERY_ERROR, "the query does not give a range vector result")
    values: dict[int, float] = {}
    for series in body["data"]["result"]:
        for stamp, value in series["values"]:
            number = float(value)
            if number == number:  # NaN (e.g. 0/0) is no data at that step
                values[int(float(stamp))] = values.get(int(float(stamp)), 0.0) + number
    return values


__all__ = ["NO_DATA", "PullFailed", "query_range"]
