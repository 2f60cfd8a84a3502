"""The at-risk message says when the error budget runs out, in every language."""

from __future__ import annotations

from slm_notifier.messages.render import Renderer

AT_RISK = {
    "agreement_id": "agr-1", "objective_id": "o", "service_key": "payments", "indicator": "availability",
    "status": "at_risk", "previous_status": "healthy", "objective": 0.99, "attainment": 0.9999, "good": 9999,
    "total": 10000, "budget_exhausted_at": "2026-12-01T09:30:00+00:00",
}  # fmt: skip


def test_the_at_risk_message_names_when_the_budget_runs_out() -> None:
    renderer = Renderer()
    for language in ("en", "pt", "es", "pl", "ru"):
        content = renderer.render(
            event_type="slm.measurement.objective.at_risk.v1", event_id="e", data=AT_RISK, language=language
        )
        assert "2026-12-01T09:30:00+00:00" in content.text, (language, content.text)
    quiet = renderer.render(
        event_type="slm.measurement.objective.at_risk.v1",
        event_id="e",
        data={**AT_RISK, "budget_exhausted_at": None},
        language="en",
    )
    assert "runs out" not in quiet.text
