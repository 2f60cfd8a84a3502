"""`slm apply`'s notification targets: a document may name only variables meant for a routing key."""

from __future__ import annotations

from slm_cli.openslo_targets import channel_of


def target(kind: str, **annotations: str) -> dict:  # type: ignore[type-arg]
    return {"metadata": {"name": "pager", "annotations": annotations}, "spec": {"target": kind}}


def test_a_pagerduty_key_comes_only_from_an_slm_pagerduty_variable() -> None:
    environ = {"SLM_PAGERDUTY_LEDGER": "R0UT1NG", "AWS_SECRET_ACCESS_KEY": "do-not-send"}
    assert channel_of(target("pagerduty", **{"slm/routing-key-env": "SLM_PAGERDUTY_LEDGER"}), environ) == (
        "pagerduty",
        {"routing_key": "R0UT1NG"},
    )
    refused = channel_of(target("pagerduty", **{"slm/routing-key-env": "AWS_SECRET_ACCESS_KEY"}), environ)
    assert isinstance(refused, str) and "SLM_PAGERDUTY_" in refused and "do-not-send" not in refused
