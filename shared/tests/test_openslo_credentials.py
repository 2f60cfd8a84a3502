"""Which credentials OpenSLO documents may name for a tenant, and which they may not hold in the clear."""

from __future__ import annotations

import itertools
from typing import Any

from slm_shared.terms.openslo_credentials import (
    credential_refusals,
    data_source_refusals,
    data_source_variable_prefix,
    metric_source_refusals,
    tenant_may_read,
    tenant_may_read_data_source,
    tenant_names_variables,
    tenant_variable_prefix,
)
from slm_shared.terms.openslo_wiring import data_sources


def test_the_notifier_reads_a_variable_only_for_the_tenant_it_is_named_for() -> None:
    assert tenant_variable_prefix("pagerduty", "acme") == "SLM_PAGERDUTY_ACME_"
    assert tenant_variable_prefix("slack", "acme-eu-1") == "SLM_SLACK_ACME_EU_1_"
    assert tenant_may_read("pagerduty", "acme", "SLM_PAGERDUTY_ACME_ONCALL")
    assert tenant_may_read("teams", "acme-x", "SLM_TEAMS_ACME_X_ONCALL")
    assert not tenant_may_read("pagerduty", "beta", "SLM_PAGERDUTY_ACME_ONCALL")  # another tenant's
    assert not tenant_may_read("pagerduty", "acme", "SLM_PAGERDUTY_ACME_X_ONCALL")  # tenant acme-x's, not acme's
    assert not tenant_may_read("pagerduty", "acme", "SLM_SLACK_ACME_ONCALL")  # another channel's
    assert not tenant_may_read("pagerduty", "acme", "SLM_PAGERDUTY_ACME_")


def test_no_two_tenants_may_read_the_same_variable() -> None:
    # acme-x's key: tenants whose ids upper-case to the same letters (acme_x, acme.x, Acme-X) never read it
    key = "SLM_PAGERDUTY_ACME_X_KEY"
    tenants = ("acme-x", "acme_x", "acme.x", "Acme-X", "ACME_X", "acme")
    assert [t for t in tenants if tenant_may_read("pagerduty", t, key)] == ["acme-x"]
    assert not tenant_names_variables("acme_x") and tenant_names_variables("acme-x")
    alphabet = ("a", "x", "A", "0", "-", "_", ".")
    every = ["".join(chars) for length in (1, 2, 3) for chars in itertools.product(alphabet, repeat=length)]
    variables = {f"SLM_PAGERDUTY_{t.upper()}_{name}" for t in every for name in ("KEY", "X_KEY", "_KEY")}
    variables |= {f"{tenant_variable_prefix('pagerduty', t)}{name}" for t in every for name in ("KEY", "X_KEY")}
    for variable in variables:
        readers = [t for t in every if tenant_may_read("pagerduty", t, variable)]
        assert len(readers) <= 1, (variable, readers)


def refusals(details: dict[str, Any], tenant: str = "acme") -> list[tuple[str, str]]:
    return data_source_refusals({"type": "prometheus", "connectionDetails": details}, tenant)


def test_a_data_source_credential_is_carried_by_variable_name_and_refused_in_the_clear() -> None:
    named = {"url": "http://p:9090", "bearerTokenEnv": "SLM_PROMETHEUS_ACME_PROM", "timeout": "30s"}
    assert data_source_refusals({"type": "prometheus", "connectionDetails": named}, "acme") == []
    documents = [
        {"kind": "DataSource", "metadata": {"name": "prom"}, "spec": {"type": "Prometheus", "connectionDetails": named}}
    ]
    assert data_sources(documents) == [
        {"name": "prom", "type": "prometheus", "url": "http://p:9090", "bearer_token_env": "SLM_PROMETHEUS_ACME_PROM"}
    ]
    for details, path in (
        ({"bearer_token": "x"}, "connectionDetails.bearer_token"),
        ({"headers": {"Authorization": "Bearer x"}}, "connectionDetails.headers.Authorization"),
        ({"client-secret": "x"}, "connectionDetails.client-secret"),
        ({"url": "https://u:pw@p"}, "connectionDetails.url"),
        ({"passwordEnv": "PASSWORD"}, "connectionDetails.passwordEnv"),
        ({"bearerTokenEnv": "SLM_PROMETHEUS_ACME_B", "usernameEnv": "SLM_PROMETHEUS_ACME_C"}, "connectionDetails"),
        ({"servers": [{"url": "http://p", "password": "x"}]}, "connectionDetails.servers[0].password"),
        ({"endpoint": "https://u:pw@p"}, "connectionDetails.endpoint"),
        ({"applicationKey": "x"}, "connectionDetails.applicationKey"),
    ):
        assert [found for found, _ in refusals(details)][:1] == [path], details
    # an empty value, a flag; where or how a credential is found, not the credential
    assert refusals({"url": "https://p/?query=up", "token": "", "bearer": True}) == []
    assert refusals({"tokenUrl": "https://idp/token", "keyFile": "/k", "accessKeyID": "AKIA"}) == []
    assert refusals({"sessionTokenEnv": "AWS_SESSION_TOKEN", "authorizationType": "bearer"}) == []
    assert refusals({"headers": [{"name": "X-Scope-OrgID", "value": "acme"}]}) == []
    assert data_source_variable_prefix("acme-eu") == "SLM_PROMETHEUS_ACME_EU_"
    assert tenant_may_read_data_source("acme-eu", "SLM_PROMETHEUS_ACME_EU_PROM")
    assert not tenant_may_read_data_source("acme", "SLM_PROMETHEUS_ACME_EU_PROM")
    assert not tenant_may_read_data_source("acme_eu", "SLM_PROMETHEUS_ACME_EU_PROM")


def test_a_credential_anywhere_in_a_data_source_or_an_inline_metric_source_is_refused_naming_its_field() -> None:
    for details, path in (
        ({"url": "http://p:9/?access_token=S3CRET"}, "connectionDetails.url"),
        ({"url": "http://p:9/?api_key=S3CRET&step=60"}, "connectionDetails.url"),
        ({"url": "https://S3CRET@p:9"}, "connectionDetails.url"),
        ({"url": "https://u@p"}, "connectionDetails.url"),
        ({"headers": [{"name": "Authorization", "value": "Bearer S3CRET"}]}, "connectionDetails.headers[0].value"),
        ({"headers": [{"key": "X-Api-Key", "value": "S3CRET"}]}, "connectionDetails.headers[0].value"),
        ({"key": "S3CRET"}, "connectionDetails.key"),
        ({"licenseKey": "S3CRET"}, "connectionDetails.licenseKey"),
        ({"queryKey": "S3CRET"}, "connectionDetails.queryKey"),
        ({"connectionString": "Server=db;Password=S3CRET"}, "connectionDetails.connectionString"),
        ({"auth": "user:S3CRET"}, "connectionDetails.auth"),
        ({"url": "http://p", "bearerTokenEnv": "SLM_PROMETHEUS_ACME_" + "X" * 200}, "connectionDetails.bearerTokenEnv"),
        ({"url": "http://p/" + "x" * 2000}, "connectionDetails.url"),
        ({"url": "http://p", "bearerTokenEnv": "SLM_PROMETHEUS_OTHER_PROM"}, "connectionDetails.bearerTokenEnv"),
        (
            {"url": "http://p", "passwordEnv": "SLM_PROMETHEUS_ACME_EU_PW", "usernameEnv": "SLM_PROMETHEUS_ACME_U"},
            "connectionDetails.passwordEnv",
        ),
    ):
        assert [found for found, _ in refusals(details)][:1] == [path], details
    assert [p for p, _ in data_source_refusals({"type": "prometheus", "apiKey": "S3CRET"}, "acme")] == ["apiKey"]
    assert refusals({"url": "http://p", "bearerTokenEnv": "SLM_PROMETHEUS_ACME_EU_PROM"}, "acme-eu") == []
    assert [p for p, _ in refusals({"bearerTokenEnv": "SLM_PROMETHEUS_ACME_X_PROM"}, "acme_x")] == [
        "connectionDetails.bearerTokenEnv"
    ]
    sli = {
        "spec": {
            "thresholdMetric": {
                "metricSource": {"type": "Datadog", "spec": {"query": "q", "apiKey": "S3CRET", "applicationKey": "S"}}
            }
        }
    }
    assert [p for p, _ in metric_source_refusals(sli)] == [
        "$.spec.thresholdMetric.metricSource.spec.apiKey",
        "$.spec.thresholdMetric.metricSource.spec.applicationKey",
    ]
    ref = {"spec": {"thresholdMetric": {"metricSource": {"metricSourceRef": "prom", "spec": {"query": "up"}}}}}
    assert metric_source_refusals(ref) == []
    assert credential_refusals({"dimensions": [{"name": "InstanceId", "value": "i-1"}], "region": "eu"}) == []
