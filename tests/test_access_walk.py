"""Every route of every service's OpenAPI document, called with every role: the expected access,
no 5xx, and nothing of another tenant or another customer in any answer."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

import httpx
import pytest

from slm_shared.auth import issue_token
from slm_shared.settings import DEVELOPMENT_JWT_SECRET
from tools.devstack import Stack
from tools.scenario import Scenario

pytestmark = pytest.mark.timeout(240)
TENANT, OTHER_TENANT = "walk", "walk-other"
ROLES = ("other-tenant", "ingest", "customer-b", "customer-a", "manager", "admin")
PUBLIC = {"/healthz", "/readyz", "/metrics", "/openapi.json"}
SIGNED = re.compile(r"/acknowledge/signed$")  # a signed link, not a bearer token, authorises these

# The expected-access table: who may call what (method, path pattern); everything else is staff only.
CUSTOMER_MAY = {
    "catalog": [
        ("GET", r"/v1/services(/\{service_id\})?"),
        ("GET", r"/v1/(indicators|calendars)(/\{key\})?"),
        ("GET", r"/v1/services/\{service_id\}/(offerings|comparison)"),
        ("GET", r"/v1/offerings(/\{offering_id\})?"),
        ("GET", r"/v1/catalog"),
        ("POST", r"/v1/requirements/match"),
        ("POST", r"/v1/calendars/\{key\}/(business-time|deadline)"),
    ],
    "agreements": [
        ("GET", r"/v1/parties(/\{party_id\})?"),
        ("GET", r"/v1/agreements(/\{agreement_id\}(/.*)?)?"),
        ("GET", r"/v1/actions/\{action_id\}"),
        ("POST", r"/v1/agreements/\{agreement_id\}/(propose|counter|accept)"),
    ],
    "measurement": [
        ("GET", r"/v1/(series|tickets)(/.*)?"),
        ("GET", r"/v1/objectives(/\{objective_id\}(/(?!chain$)[a-z-]+)?)?"),  # the chain diagnosis is staff's
        ("GET", r"/v1/agreements/\{agreement_id\}/report"),
        ("GET", r"/v1/agreements/\{agreement_id\}/observations"),
        ("POST", r"/v1/agreements/\{agreement_id\}/observations"),
        ("GET", r"/v1/observations/\{observation_id\}"),
        ("POST", r"/v1/observations/\{observation_id\}/withdraw"),
        ("GET", r"/v1/parties/\{party_id\}/review-pack"),
    ],
    "notifier": [("GET", r"/v1/notifications(/\{notification_id\})?"), ("POST", r"/v1/notifications/.*/acknowledge")],
}
INGEST_MAY = {"measurement": [("POST", r"/v1/measurements"), ("POST", r"/v1/tickets/events")]}
ADMIN_ONLY = re.compile(r"/v1/(dead-letters|outbox)")

SAM = [
    {"name": "Sam", "email": "sam@example.com", "role": "service_level_manager", "escalation_level": 1}
]  # owns actions


def allowed(service: str, role: str, method: str, path: str) -> bool:
    """Whether the table lets `role` call the route (another tenant's admin is an admin)."""
    if ADMIN_ONLY.match(path):
        return role in ("admin", "other-tenant")
    ingest_route = any(m == method and re.fullmatch(p, path) for m, p in INGEST_MAY.get(service, []))
    if role in ("admin", "other-tenant"):
        return True
    if role == "manager":
        return not ingest_route
    if role == "ingest":
        return ingest_route
    return any(m == method and re.fullmatch(p, path) for m, p in CUSTOMER_MAY.get(service, []))


@dataclass
class World:
    """What was seeded, and which strings each reader must never see."""

    path_values: dict[str, str] = field(default_factory=dict)
    query_values: dict[str, str] = field(default_factory=dict)
    party_a: str = ""
    party_b: str = ""
    secrets_a: set[str] = field(default_factory=set)
    secrets_b: set[str] = field(default_factory=set)
    tenant_secrets: set[str] = field(default_factory=set)

    def token(self, role: str) -> str:
        if role == "other-tenant":
            return issue_token(DEVELOPMENT_JWT_SECRET, tenant=OTHER_TENANT, roles=["admin"])
        if role.startswith("customer"):
            party = self.party_a if role == "customer-a" else self.party_b
            return issue_token(DEVELOPMENT_JWT_SECRET, tenant=TENANT, roles=["customer"], party=party)
        return issue_token(DEVELOPMENT_JWT_SECRET, tenant=TENANT, roles=[role])

    def forbidden(self, role: str) -> set[str]:
        return {
            "other-tenant": self.tenant_secrets | self.secrets_a | self.secrets_b,
            "customer-a": self.secrets_b,
            "customer-b": self.secrets_a,
        }.get(role, set())


def seed(scenario: Scenario) -> World:
    """A service with an offering, customers A and B with an SLA each in force, data, an action, a subscription."""
    world = World()
    service, offering = scenario.create_offering()
    world.tenant_secrets |= {service["id"], offering["id"], service["key"]}
    ids: dict[str, dict[str, str]] = {}
    for party in ("a", "b"):
        name = f"Secret Party {party.upper()}"
        found = scenario.call(
            "POST", "agreements", "/v1/parties", 201, json={"name": name, "kind": "customer", "contacts": SAM}
        )
        body = {
            "kind": "SLA",
            "name": f"Secret Agreement {party.upper()}",
            "service_id": service["id"],
            "offering_id": offering["id"],
            "consumer_party_id": found["id"],
        }
        agreement = scenario.call("POST", "agreements", "/v1/agreements", 201, json=body)
        customer = issue_token(DEVELOPMENT_JWT_SECRET, tenant=TENANT, roles=["customer"], party=found["id"])
        for path, token in (("propose", None), ("accept", None), ("accept", customer), ("activate", None)):
            scenario.call("POST", "agreements", f"/v1/agreements/{agreement['id']}/{path}", 200, token=token)
        ids[party] = {"party": found["id"], "agreement": agreement["id"]}
    for party in ("a", "b"):
        ids[party]["objective"] = scenario.wait_for_objective(ids[party]["agreement"])["id"]
    world.party_a, world.party_b = ids["a"]["party"], ids["b"]["party"]
    stamp = (datetime.now(UTC) - timedelta(minutes=2)).isoformat()
    points = [
        {"service": service["key"], "indicator": "availability", "timestamp": stamp, "good": n, "total": n, "scope": p}
        for p, n in ((world.party_a, 424242), (world.party_b, 777777))
    ]
    scenario.call("POST", "measurement", "/v1/measurements", 202, json=points)
    due = (date.today() + timedelta(days=9)).isoformat()
    action = scenario.call(
        "POST",
        "agreements",
        f"/v1/agreements/{ids['a']['agreement']}/actions",
        201,
        json={"title": "Secret Action A", "owner": "sam", "due_on": due},
    )
    for party, secrets in (("a", world.secrets_a), ("b", world.secrets_b)):
        secrets |= {*ids[party].values(), f"Secret Party {party.upper()}", f"Secret Agreement {party.upper()}"}
    world.secrets_a |= {action["id"], "Secret Action A"}
    world.secrets_b |= {"777777"}  # B's counts: a customer asking for B's scope must not get them
    subscription = scenario.subscribe("https://hooks.example/walk")
    world.tenant_secrets |= {subscription["id"], subscription["name"]}

    now = datetime.now(UTC)
    world.path_values = {
        "service_id": service["id"],
        "supporting_service_id": service["id"],
        "offering_id": offering["id"],
        "party_id": ids["a"]["party"],
        "agreement_id": ids["a"]["agreement"],
        "action_id": action["id"],
        "objective_id": ids["a"]["objective"],
        "subscription_id": subscription["id"],
        "version": "1",
    }
    world.query_values = {
        "service": service["key"],
        "indicator": "availability",
        "start": (now - timedelta(hours=1)).isoformat(),
        "end": now.isoformat(),
        "granularity": "minute",
        "scope": world.party_b,
    }
    return world


def request_for(operation: dict[str, Any], path: str, world: World) -> tuple[str, dict[str, str]]:
    """The concrete URL and query for a route, filled with the seeded ids (a scope of customer B's)."""
    url = path
    for name in re.findall(r"\{(\w+)\}", path):
        url = url.replace("{" + name + "}", world.path_values.get(name, "availability"))
    query = {
        parameter["name"]: world.query_values.get(parameter["name"], "x")
        for parameter in operation.get("parameters", [])
        if parameter["in"] == "query" and (parameter.get("required") or parameter["name"] in world.query_values)
    }
    return url, query


def test_every_route_with_every_role(stack: Stack) -> None:
    scenario = Scenario({name: stack.url(name) for name in stack.ports}, tenant=TENANT)
    world = seed(scenario)
    problems: list[str] = []
    with httpx.Client(timeout=30) as http:
        for service in ("catalog", "agreements", "measurement", "notifier"):
            base = stack.url(service)
            spec = http.get(base + "/openapi.json").json()
            routes = [(m.upper(), p, op) for p, ops in spec["paths"].items() for m, op in ops.items()]
            routes.sort(key=lambda route: route[0] == "DELETE")  # deletions last, so the seeds live long
            for role in ROLES:
                headers = {"Authorization": f"Bearer {world.token(role)}"}
                for method, path, operation in routes:
                    if path in PUBLIC or SIGNED.search(path):
                        continue
                    url, query = request_for(operation, path, world)
                    body = {} if method in ("POST", "PUT", "PATCH") else None
                    response = http.request(method, base + url, params=query, json=body, headers=headers)
                    where = f"{service} {role} {method} {url}"
                    if response.status_code >= 500:
                        problems.append(f"{where}: {response.status_code} {response.text[:200]}")
                    expected = allowed(service, role, method, path)
                    if expected and response.status_code == 403:
                        problems.append(f"{where}: 403, expected access")
                    if not expected and response.status_code not in (403, 404):  # 404: not even visible
                        problems.append(f"{where}: {response.status_code}, expected 403")
                    asked = url + " " + " ".join(query.values())
                    leaked = [s for s in world.forbidden(role) if s not in asked and s in response.text]
                    if leaked:
                        problems.append(f"{where}: leaked {leaked}")
    assert not problems, "\n".join(problems)
