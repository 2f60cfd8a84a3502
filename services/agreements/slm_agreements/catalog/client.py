"""The catalog's REST API, called on behalf of the caller with its own bearer token."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import httpx

from slm_shared.errors import ProblemError


class CatalogUnavailable(ProblemError):
    status = 503
    problem_type = "catalog-unavailable"


@dataclass(frozen=True)
class CatalogClient:
    """Reads the catalog's REST API on behalf of the caller, forwarding its bearer token."""

    base_url: str
    timeout: float
    authorization: str | None

    async def _call(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        headers = {"Authorization": self.authorization} if self.authorization else {}
        try:
            async with httpx.AsyncClient(
                base_url=self.base_url, timeout=self.timeout, follow_redirects=False
            ) as client:
                return await client.request(method, path, headers=headers, **kwargs)
        except httpx.HTTPError as exc:
            raise CatalogUnavailable(f"The catalog at {self.base_url} is not reachable: {type(exc).__name__}") from exc

    @staticmethod
    def _json(response: httpx.Response, path: str) -> Any:
        try:
            return response.json()
        except ValueError as exc:
            raise CatalogUnavailable(f"The catalog answered {path} with something other than JSON") from exc

    async def get_any(self, path: str, params: dict[str, Any] | None = None) -> Any:
        """The JSON at `path`, or None when the catalog does not show it to the caller."""
        response = await self._call("GET", path, params=params)
        if response.status_code in (401, 403, 404):
            return None
        if response.status_code != 200:
            raise CatalogUnavailable(f"The catalog answered {response.status_code} for {path}")
        return self._json(response, path)

    async def get(self, path: str) -> dict[str, Any] | None:
        """The JSON document at `path`, or None when the catalog does not show it to the caller."""
        body = await self.get_any(path)
        return body if isinstance(body, dict) else None

    async def post(self, path: str, body: dict[str, Any]) -> tuple[int, Any]:
        """POST `body`; the status and the JSON answer (a 4xx answer is the caller's to explain)."""
        response = await self._call("POST", path, json=body)
        if response.status_code >= 500:
            raise CatalogUnavailable(f"The catalog answered {response.status_code} for {path}")
        return response.status_code, self._json(response, path)
