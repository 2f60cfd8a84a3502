"""Observation and chain warnings read in the subscriber's language, with what happened and when the budget runs out."""

from __future__ import annotations

import pytest

from slm_notifier.messages import Renderer
from slm_shared.contracts import EVENTS

CHAIN = {
    "agreement_id": "agr-1", "agreement_name": "Northwind web shop SLA", "service_key": "webshop",
    "supporting_agreement_id": "uc-1", "supporting_agreement_kind": "UC", "supporting_objective_id": "o-1",
    "supporting_service_key": "cardnet", "indicator": "availability", "status": "at_risk", "depth": 2,
    "path": ["webshop", "payments", "cardnet"], "attainment": 0.9, "objective": 0.999,
    "budget_exhausted_at": "2026-11-30T18:00:00+00:00", "observed_at": "2026-11-30T10:00:00+00:00",
}  # fmt: skip
OBSERVATION = {
    "observation_id": "obs-1", "agreement_id": "agr-1", "agreement_name": "Northwind web shop SLA",
    "service_key": "webshop", "kind": "unavailable", "summary": "Checkout down", "impact": "high",
    "start": "2026-11-30T10:00:00+00:00", "end": "2026-11-30T10:10:00+00:00", "counts": True,
    "recorded_by": "ana", "recorded_at": "2026-11-30T10:20:00+00:00",
}  # fmt: skip
WORDS = {
    "en": ("Early warning", "at risk", "unavailable", "high"),
    "pt": ("Alerta antecipado", "em risco", "indisponível", "alto"),
    "es": ("Aviso anticipado", "en riesgo", "no disponible", "alto"),
    "pl": ("Wczesne ostrzeżenie", "zagrożony", "niedostępna", "wysoki"),
    "ru": ("Раннее предупреждение", "под угрозой", "недоступна", "высокое"),
}


@pytest.mark.parametrize("language", sorted(WORDS))
def test_chain_warnings_and_observations_are_written_in_the_readers_language(language: str) -> None:
    warning, status, kind, impact = WORDS[language]
    renderer = Renderer()
    chain = renderer.render(event_type=EVENTS.chain_at_risk.type, event_id="e1", data=CHAIN, language=language)
    assert chain.subject.startswith(warning) and status in chain.subject and "cardnet" in chain.subject
    assert "webshop → payments → cardnet" in chain.text and "2026-11-30T18:00:00+00:00" in chain.text
    assert "Northwind web shop SLA" in chain.text
    seen = renderer.render(
        event_type=EVENTS.observation_recorded.type, event_id="e2", data=OBSERVATION, language=language
    )
    assert kind in seen.subject and impact in seen.text and "Checkout down" in seen.text


BURN = {
    "agreement_id": "agr-1", "agreement_name": "Northwind web shop SLA", "objective_id": "o-1",
    "objective_row_id": "r-1", "service_key": "webshop", "indicator": "availability", "tier": "page-1h",
    "severity": "page", "firing": True, "long_window": "1h", "short_window": "5m", "long_burn_rate": 20.0,
    "short_burn_rate": 25.0, "threshold_factor": 14.4, "budget_share": 0.02, "objective": 0.999,
    "observed_at": "2026-11-30T10:00:00+00:00", "budget_exhausted_at": "2026-11-30T19:00:00+00:00",
}  # fmt: skip
BURNING = {
    "en": "Error budget burning fast", "pt": "Orçamento de erro a esgotar-se depressa",
    "es": "Presupuesto de error consumiéndose rápido", "pl": "Budżet błędów szybko się wyczerpuje",
    "ru": "Бюджет ошибок быстро расходуется",
}  # fmt: skip


@pytest.mark.parametrize("language", sorted(BURNING))
def test_a_burn_alert_says_what_happened_rate_window_and_when_the_budget_runs_out(language: str) -> None:
    content = Renderer().render(
        event_type=EVENTS.objective_burn_alert.type, event_id="e3", data=BURN, language=language
    )
    assert content.subject.startswith(BURNING[language]) and "Northwind web shop SLA" in content.subject
    assert "20.0" in content.text and "1h" in content.text and "5m" in content.text and "2%" in content.text
    assert "2026-11-30T19:00:00+00:00" in content.text
