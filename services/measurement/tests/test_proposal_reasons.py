"""Why a proposal was drafted is kept as a message key and parameters, and read in each language."""

from __future__ import annotations

from slm_measurement.portfolio.drafting import drafts_for
from slm_shared.contracts.action_titles import render_reason


def _trend(*attainments: float) -> dict[str, object]:
    return {"target": 0.99, "trend": [{"period": f"2026-0{i + 1}", "attainment": a} for i, a in enumerate(attainments)]}


def test_each_drafted_reason_reads_in_every_language() -> None:
    missed = drafts_for(_trend(0.999, 0.98, 0.97), "breached", False)
    assert [(d.kind, d.reason_key, d.reason_params) for d in missed] == [
        ("amendment", "proposal.amendment", {"misses": "2", "periods": "3"}),
        ("improvement_action", "proposal.improvement_action", {"state": "breached"}),
    ]
    assert missed[0].reason == "missed in 2 of the last 3 periods: renegotiate the target or cover"
    shown = {
        lang: render_reason(missed[0].reason_key, missed[0].reason_params, lang, "") for lang in ("pt", "pl", "ru")
    }
    assert shown == {
        "pt": "não cumprido em 2 dos últimos 3 períodos: renegociar a meta ou a cobertura",
        "pl": "niespełniony w 2 z ostatnich 3 okresów: renegocjować próg lub pokrycie",
        "ru": "не выполнено в 2 из последних 3 периодов: пересогласовать целевое значение или покрытие",
    }
    act = missed[1]
    assert render_reason(act.reason_key, act.reason_params, "es", "") == (
        "incumplido ahora: actuar antes de que termine el período"
    )
    (spare,) = drafts_for(_trend(0.999, 0.998, 0.9999), None, False)
    assert render_reason(spare.reason_key, spare.reason_params, "pt", "") == (
        "cumprido com metade do orçamento de erro de sobra em todos os 3 períodos: oferecer um nível superior"
    )
    (forecast,) = drafts_for(_trend(0.995), None, True)
    assert forecast.reason == "forecast to miss now: act before the period ends"
    assert render_reason(forecast.reason_key, forecast.reason_params, "pl", "") == (
        "prognozowane niespełnienie teraz: działać przed końcem okresu"
    )


def test_a_reason_stored_before_keys_is_shown_as_written() -> None:
    assert render_reason(None, None, "ru", "at_risk now: act before the period ends") == (
        "at_risk now: act before the period ends"
    )
    assert render_reason("proposal.unknown", {}, "pt", "kept") == "kept"
