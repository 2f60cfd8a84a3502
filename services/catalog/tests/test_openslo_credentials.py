"""A DataSource's credential is named by variable, never written in the documents the catalogue keeps and exports."""

from __future__ import annotations

import uuid
from typing import Any

import httpx
from test_openslo_delete import APPLIED, apply, doc, exported, published

from slm_shared.testing.nats_server import NatsServer


def source(name: str, details: dict[str, Any], kind: str = "prometheus") -> dict[str, Any]:
    return doc("DataSource", name, {"type": kind, "connectionDetails": details})


async def test_a_credential_in_the_clear_is_refused_naming_its_field_and_nothing_is_kept(
    client: httpx.AsyncClient,
) -> None:
    before = await exported(client)
    url = "http://prometheus:9090"
    for details, field, kind in (
        ({"url": url, "bearerToken": "s3cret"}, "connectionDetails.bearerToken", "prometheus"),
        (
            {"url": url, "basicAuth": {"username": "u", "password": "p"}},
            "connectionDetails.basicAuth.password",
            "prometheus",
        ),
        ({"url": "http://u:p@prometheus:9090"}, "connectionDetails.url", "prometheus"),
        ({"accessKeyID": "AKIA", "secretAccessKey": "k"}, "connectionDetails.secretAccessKey", "CloudWatch"),
        ({"apiKey": "k", "applicationKey": "k"}, "connectionDetails.apiKey", "Datadog"),
        ({"url": url, "bearerTokenEnv": "HOME"}, "connectionDetails.bearerTokenEnv", "prometheus"),
        ({"url": url, "usernameEnv": "SLM_PROMETHEUS_ACME_USER"}, "connectionDetails", "prometheus"),
    ):
        refused = await apply(client, [source("prom-secret", details, kind)])
        assert refused.status_code == 422, (details, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
        first = refused.json()["errors"][0]
        assert first["field"] == f"documents[0] $.spec.{field}", first
        assert first["message"].startswith("DataSource prom-secret: "), first
        assert "s3cret" not in refused.text  # the value is never echoed back
    assert await exported(client) == before


async def test_a_credential_named_by_variable_is_kept_and_published_as_the_name_only(
    client: httpx.AsyncClient, nats_server: NatsServer
) -> None:
    name = f"prom-{uuid.uuid4().hex[:12]}"
    details = {"url": "http://prometheus:9090", "bearerTokenEnv": "SLM_PROMETHEUS_ACME_PROM", "timeout": "30s"}
    applied = await apply(client, [source(name, details)])
    assert applied.status_code == 201, applied.text
    [event] = await published(nats_server, name, APPLIED, 1)
    assert event["data_sources"] == [
        {
            "name": name,
            "type": "prometheus",
            "url": "http://prometheus:9090",
            "bearer_token_env": "SLM_PROMETHEUS_ACME_PROM",
            "username_env": None,
            "password_env": None,
        }
    ]
    assert ("DataSource", name) in await exported(client)
