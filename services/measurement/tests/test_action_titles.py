"""Action titles the platform wrote are shown in the reader's language; titles without a key as stored."""

from __future__ import annotations

from slm_measurement.reports.i18n import Formatter

PARAMS = {"indicator": "availability", "service_key": "payments-1", "service_name": "Payments"}
WRITTEN = {
    "title": "Restore availability of payments-1",
    "title_key": "action.restore_indicator",
    "title_params": PARAMS,
}


def test_a_platform_written_title_is_rendered_per_language_with_the_service_name() -> None:
    shown = {lang: Formatter(lang).action_title(WRITTEN) for lang in ("en", "pt", "es", "pl", "ru")}
    assert shown == {
        "en": "Restore availability of Payments",
        "pt": "Restabelecer o nível de disponibilidade do serviço Payments",
        "es": "Restablecer el nivel de disponibilidad del servicio Payments",
        "pl": "Przywrócić poziom: dostępność — usługa Payments",
        "ru": "Восстановить показатель «доступность» услуги Payments",
    }


def test_rows_stored_before_and_titles_people_wrote_are_shown_as_written() -> None:
    older = {"title": "Restore availability of payments-1"}
    person = {"title": "Add a second card gateway", "title_key": None, "title_params": None}
    unknown_key = {**WRITTEN, "title_key": "action.something_else"}
    assert Formatter("pt").action_title(older) == "Restore availability of payments-1"
    assert Formatter("ru").action_title(person) == "Add a second card gateway"
    assert Formatter("es").action_title(unknown_key) == "Restore availability of payments-1"
    no_name = {**WRITTEN, "title_params": {"indicator": "latency", "service_key": "payments-1"}}
    assert Formatter("pl").action_title(no_name) == "Przywrócić poziom: opóźnienie — usługa payments-1"
