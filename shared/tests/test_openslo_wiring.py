"""What OpenSLO documents ask of measurement and the notifier, read once for the catalogue and `slm apply`."""

from __future__ import annotations

from typing import Any

from slm_shared.terms.openslo_wiring import channel_of, differs, pulled_series, with_secret


def target(kind: str, **annotations: str) -> dict[str, Any]:
    return {"metadata": {"name": "chat", "annotations": annotations}, "spec": {"target": kind}}


def test_a_series_differs_when_its_step_or_source_changes_not_only_its_queries() -> None:
    held = {"good_query": "g", "total_query": "t", "value_query": None, "step_seconds": 60, "data_source": "prom"}
    assert not differs(held, dict(held))
    assert differs(held, {**held, "step_seconds": 30})
    assert differs(held, {**held, "data_source": "prom-eu"})
    assert differs(held, {**held, "good_query": "g2"})


def test_the_step_comes_from_the_sli_annotation_within_bounds() -> None:
    def documents(step: str | None) -> list[dict[str, Any]]:
        metric = {"metricSource": {"metricSourceRef": "prom", "spec": {"query": "q"}}}
        annotations = {"slm/step-seconds": step} if step else {}
        return [
            {
                "kind": "DataSource",
                "metadata": {"name": "prom"},
                "spec": {"type": "prometheus", "connectionDetails": {"url": "http://p"}},
            },
            {
                "kind": "SLI",
                "metadata": {"name": "ok", "annotations": annotations},
                "spec": {"thresholdMetric": metric},
            },
            {
                "apiVersion": "openslo/v1",
                "kind": "SLO",
                "metadata": {"name": "s"},
                "spec": {"service": "svc", "indicatorRef": "ok"},
            },
        ]

    assert [s["step_seconds"] for s in pulled_series(documents("30"))] == [30]
    assert [s["step_seconds"] for s in pulled_series(documents(None))] == [60]
    assert [s["step_seconds"] for s in pulled_series(documents("5"))] == [60]  # below 15 s: the default


def test_slack_and_teams_targets_name_their_webhook_variable_which_never_enters_the_target() -> None:
    assert channel_of(target("slack", **{"slm/webhook-url-env": "SLM_SLACK_OPS"})) == ("slack", {}, "SLM_SLACK_OPS")
    assert channel_of(target("teams", **{"slm/webhook-url-env": "SLM_TEAMS_OPS"})) == ("teams", {}, "SLM_TEAMS_OPS")
    refused = channel_of(target("slack", **{"slm/webhook-url-env": "AWS_SECRET_ACCESS_KEY"}))
    assert isinstance(refused, str) and "SLM_SLACK_" in refused
    environ = {"SLM_SLACK_OPS": "https://hooks.slack.example/T/B/X"}
    assert with_secret("slack", {}, "SLM_SLACK_OPS", environ) == {"url": "https://hooks.slack.example/T/B/X"}
    assert with_secret("teams", {}, "SLM_TEAMS_OPS", environ) is None
