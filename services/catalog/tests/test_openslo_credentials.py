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


async def test_a_credential_anywhere_in_a_data_source_or_an_inline_metric_source_is_refused_and_not_exported(
    client: httpx.AsyncClient,
) -> None:
    before = await exported(client)
    url = "http://prometheus:9090"
    datadog = {"type": "Datadog", "spec": {"query": "avg:latency{*}", "apiKey": "S3CRET", "applicationKey": "S3CRET"}}
    inline = doc("SLI", "dd-latency", {"thresholdMetric": {"metricSource": datadog}})
    for given, field in (
        (source("p", {"url": "http://p:9/?access_token=S3CRET"}), "$.spec.connectionDetails.url"),
        (source("p", {"url": "https://S3CRET@p:9"}), "$.spec.connectionDetails.url"),
        (
            source("p", {"url": url, "headers": [{"name": "Authorization", "value": "Bearer S3CRET"}]}),
            "$.spec.connectionDetails.headers[0].value",
        ),
        (
            doc("DataSource", "p", {"type": "prometheus", "token": "S3CRET", "connectionDetails": {"url": url}}),
            "$.spec.token",
        ),
        (source("p", {"url": url, "key": "S3CRET"}), "$.spec.connectionDetails.key"),
        (source("nr", {"licenseKey": "S3CRET"}, "NewRelic"), "$.spec.connectionDetails.licenseKey"),
        (source("nr", {"queryKey": "S3CRET"}, "NewRelic"), "$.spec.connectionDetails.queryKey"),
        (source("db", {"connectionString": "Password=S3CRET"}, "SQL"), "$.spec.connectionDetails.connectionString"),
        (source("p", {"url": url, "auth": "u:S3CRET"}), "$.spec.connectionDetails.auth"),
        (inline, "$.spec.thresholdMetric.metricSource.spec.apiKey"),
        # too long for measurement to take: refused here, never a 500
        (
            source("p", {"url": url, "bearerTokenEnv": "SLM_PROMETHEUS_ACME_" + "P" * 200}),
            "$.spec.connectionDetails.bearerTokenEnv",
        ),
        (source("p", {"url": url + "/" + "x" * 2000}), "$.spec.connectionDetails.url"),
        # another tenant's variable: measurement would never read it for acme
        (
            source("p", {"url": url, "bearerTokenEnv": "SLM_PROMETHEUS_OTHER_PROM"}),
            "$.spec.connectionDetails.bearerTokenEnv",
        ),
    ):
        refused = await apply(client, [given])
        assert refused.status_code == 422, (given, refused.text)
        assert refused.headers["content-type"] == "application/problem+json"
        first = refused.json()["errors"][0]
        assert first["field"] == f"documents[0] {field}", (given, first)
        assert "S3CRET" not in refused.text
    assert await exported(client) == before
    # where or how a credential is found is kept
    kept = {"url": url, "tokenUrl": "https://idp/token", "keyFile": "/k", "bearerTokenEnv": "SLM_PROMETHEUS_ACME_PROM"}
    assert (await apply(client, [source(f"p-{uuid.uuid4().hex[:8]}", kept)])).status_code == 201
