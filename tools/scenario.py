"""The platform's thread, driven only through the public HTTP APIs.

catalog service + Gold offering -> customer SLA activated -> breaching measurements ->
objective.breached -> a signed webhook. Used by `make demo` and the end-to-end tests.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from slm_shared.auth import issue_token
from slm_shared.settings import DEVELOPMENT_JWT_SECRET


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def expect(response: httpx.Response, status: int) -> Any:
    if response.status_code != status:
        raise AssertionError(
            f"{response.request.method} {response.request.url} -> {response.status_code}: {response.text}"
        )
    return response.json() if response.content else None


def wait_until(check: Callable[[], Any], *, timeout: float, what: str, interval: float = 0.2) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(interval)
    raise TimeoutError(f"timed out waiting for {what}")


@dataclass
class Scenario:
    """One tenant's walk through the platform."""

    urls: dict[str, str]
    tenant: str = "demo"
    secret: str = DEVELOPMENT_JWT_SECRET
    log: Callable[[str], None] = lambda _line: None

    def __post_init__(self) -> None:
        self.admin = issue_token(self.secret, tenant=self.tenant, roles=["admin"], subject="scenario-admin")
        self.http = httpx.Client(timeout=10)
        self.suffix = uuid.uuid4().hex[:6]

    def call(self, method: str, service: str, path: str, status: int, token: str | None = None, **kwargs: Any) -> Any:
        headers = {**bearer(token or self.admin), **kwargs.pop("headers", {})}
        response = self.http.request(method, self.urls[service] + path, headers=headers, **kwargs)
        return expect(response, status)

    def create_offering(self) -> tuple[dict[str, Any], dict[str, Any]]:
        service = self.call(
            "POST",
            "catalog",
            "/v1/services",
            201,
            json={
                "key": f"payments-{self.suffix}",
                "name": "Payments API",
                "type": "business",
                "owner_team": "Payments",
                "description": "Card payments for web shops",
            },
        )
        offering = self.call(
            "POST",
            "catalog",
            f"/v1/services/{service['id']}/offerings",
            201,
            json={
                "name": "Gold",
                "price": {"amount": "1500.00", "currency": "EUR", "period": "month"},
                "targets": [
                    {
                        "indicator": "availability",
                        "indicator_kind": "ratio",
                        "target": 0.999,
                        "window": {"kind": "calendar", "unit": "month", "timezone": "UTC"},
                        "budgeting_method": "occurrences",
                    }
                ],
            },
        )
        offering = self.call("POST", "catalog", f"/v1/offerings/{offering['id']}/publish", 200)
        self.log(f"catalog: service {service['key']} with offering Gold (99.9% availability per month) published")
        self.show_tiers_and_match(service)
        return service, offering

    def show_tiers_and_match(self, service: dict[str, Any]) -> None:
        """Add Silver and Bronze beside Gold, compare the three tiers and match two requirements."""
        for name, amount, share in (("Silver", "900.00", 0.995), ("Bronze", "400.00", 0.99)):
            tier = self.call(
                "POST",
                "catalog",
                f"/v1/services/{service['id']}/offerings",
                201,
                json={
                    "name": name,
                    "price": {"amount": amount, "currency": "EUR", "period": "month"},
                    "targets": [
                        {
                            "indicator": "availability",
                            "target": share,
                            "window": {"kind": "calendar", "unit": "month", "timezone": "UTC"},
                        }
                    ],
                },
            )
            self.call("POST", "catalog", f"/v1/offerings/{tier['id']}/publish", 200)
        comparison = self.call("GET", "catalog", f"/v1/services/{service['id']}/comparison", 200)
        row = comparison["targets"][0]["values"]
        tiers = ", ".join(
            f"{tier['name']} {tier['price']['amount']} {tier['price']['currency']}/{tier['price']['period']}"
            f" for {cell['target'] * 100:g}%"
            for tier, cell in zip(comparison["tiers"], row, strict=True)
        )
        self.log(f"catalog: three tiers side by side: {tiers}")
        wanted = {"service_id": service["id"], "max_price": {"amount": "1000", "currency": "EUR"}}
        match = self.call(
            "POST",
            "catalog",
            "/v1/requirements/match",
            200,
            json={**wanted, "targets": [{"indicator": "availability", "target": 0.995}]},
        )
        names = [candidate["tier"]["name"] for candidate in match["matches"]]
        self.log(f"catalog: requirement 99.5% for at most 1000 EUR/month -> matching tiers by price: {names}")
        match = self.call(
            "POST",
            "catalog",
            "/v1/requirements/match",
            200,
            json={**wanted, "targets": [{"indicator": "availability", "target": 0.9999}]},
        )
        gaps = "; ".join(item["message"] for item in match["unmet"])
        self.log(f"catalog: requirement 99.99% -> {match['outcome'].replace('_', ' ')} needed ({gaps})")

    def activate_sla(self, service: dict[str, Any], offering: dict[str, Any]) -> dict[str, Any]:
        customer = self.call(
            "POST",
            "agreements",
            "/v1/parties",
            201,
            json={
                "name": "Northwind Traders",
                "kind": "customer",
                "contacts": [
                    {
                        "name": "Ana Silva",
                        "email": "ana@northwind.example",
                        "role": "service_level_manager",
                        "escalation_level": 1,
                    }
                ],
            },
        )
        agreement = self.call(
            "POST",
            "agreements",
            "/v1/agreements",
            201,
            json={
                "kind": "SLA",
                "name": "Northwind payments SLA",
                "service_id": service["id"],
                "offering_id": offering["id"],
                "consumer_party_id": customer["id"],
            },
        )
        customer_token = issue_token(self.secret, tenant=self.tenant, roles=["customer"], party=customer["id"])
        self.call("POST", "agreements", f"/v1/agreements/{agreement['id']}/propose", 200)
        self.call("POST", "agreements", f"/v1/agreements/{agreement['id']}/accept", 200)
        self.call("POST", "agreements", f"/v1/agreements/{agreement['id']}/accept", 200, token=customer_token)
        agreement = self.call("POST", "agreements", f"/v1/agreements/{agreement['id']}/activate", 200)
        self.log(f"agreements: SLA {agreement['id']} negotiated with {customer['name']} and activated")
        return agreement

    def subscribe(self, url: str) -> dict[str, Any]:
        subscription = self.call(
            "POST",
            "notifier",
            "/v1/subscriptions",
            201,
            json={
                "name": "Breaches to the ops webhook",
                "event_types": ["slm.measurement.objective.*"],
                "channel": "webhook",
                "target": {"url": url},
            },
        )
        self.log(f"notifier: webhook subscription {subscription['id']} -> {url}")
        return subscription

    def wait_for_objective(self, agreement_id: str, timeout: float = 60) -> dict[str, Any]:
        def found() -> Any:
            page = self.call("GET", "measurement", f"/v1/objectives?agreement_id={agreement_id}", 200)
            return page["items"][0] if page["items"] else None

        objective = wait_until(found, timeout=timeout, what="measurement to learn the SLA's objective")
        self.log(f"measurement: tracking objective {objective['id']}")
        return objective

    def ingest_breach(
        self, service_key: str, *, since: str | datetime | None = None, minutes: int = 10, key: str | None = None
    ) -> None:
        """Ingest 95% good (target 99.9%) for each minute since `since` (in force from then), at most `minutes`.

        Data from before the agreement came into force counts nowhere, so nothing older is sent.
        """
        now = datetime.now(UTC).replace(second=0, microsecond=0)
        first = now - timedelta(minutes=minutes - 1)
        if since is not None:
            start = datetime.fromisoformat(since) if isinstance(since, str) else since
            first = max(first, start.astimezone(UTC).replace(second=0, microsecond=0))
        count = int((now - first) / timedelta(minutes=1)) + 1
        points = [
            {
                "service": service_key,
                "indicator": "availability",
                "timestamp": (now - timedelta(minutes=i)).isoformat(),
                "good": 950,
                "total": 1000,
            }
            for i in range(count)
        ]
        headers = {"Idempotency-Key": key} if key else {}
        self.call("POST", "measurement", "/v1/measurements", 202, json=points, headers=headers)
        self.log(f"measurement: ingested {count} minute(s) since the SLA came into force at 95% good (target 99.9%)")
