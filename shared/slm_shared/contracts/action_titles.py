"""Titles the platform writes for improvement actions, kept as a message key and parameters and rendered
in the reader's language (en, pt, es, pl, ru). One table, read by agreements, measurement and the notifier."""

from __future__ import annotations

from collections.abc import Mapping

TITLE_LANGUAGES = ("en", "pt", "es", "pl", "ru")
RESTORE = "action.restore_indicator"

INDICATOR_WORDS: dict[str, tuple[str, str, str, str, str]] = {
    "availability": ("Availability", "Disponibilidade", "Disponibilidad", "Dostępność", "Доступность"),
    "latency": ("Latency", "Latência", "Latencia", "Opóźnienie", "Задержка"),
    "error_rate": ("Error rate", "Taxa de erros", "Tasa de errores", "Wskaźnik błędów", "Доля ошибок"),
}  # fmt: skip

TITLES: dict[str, tuple[str, str, str, str, str]] = {
    RESTORE: (
        "Restore {indicator} of {service}",
        "Restabelecer o nível de {indicator} do serviço {service}",
        "Restablecer el nivel de {indicator} del servicio {service}",
        "Przywrócić poziom: {indicator} — usługa {service}",
        "Восстановить показатель «{indicator}» услуги {service}",
    ),
}


def language_of(lang: str | None) -> str:
    """One of the title languages (English when unknown)."""
    code = (lang or "en").split("-")[0].split("_")[0].lower()
    return code if code in TITLE_LANGUAGES else "en"


def indicator_word(indicator: str, lang: str | None, *, capital: bool = True) -> str:
    """An indicator's name in a language; an indicator without one keeps its own key, spaced."""
    base = indicator.split("#")[0]
    words = INDICATOR_WORDS.get(base)
    word = words[TITLE_LANGUAGES.index(language_of(lang))] if words else base.replace("_", " ").capitalize()
    return word if capital else word[:1].lower() + word[1:]


def render_title(key: str | None, params: Mapping[str, object] | None, lang: str | None, fallback: str) -> str:
    """A platform-written title in `lang`; `fallback` (the stored text) when there is no key or it is unknown."""
    templates = TITLES.get(key or "")
    if templates is None:
        return fallback
    values = {name: str(value) for name, value in (params or {}).items()}
    language = language_of(lang)
    if "indicator" in values:
        values["indicator"] = indicator_word(values["indicator"], language, capital=False)
    values["service"] = values.get("service_name") or values.get("service_key") or values.get("service", "")
    try:
        return templates[TITLE_LANGUAGES.index(language)].format(**values)[:200]
    except (KeyError, IndexError):
        return fallback


def preferred_language(lang: str | None, accept_language: str | None) -> str:
    """`?lang=` when it names a title language, else the first such language of Accept-Language, else English."""
    if lang:
        return language_of(lang)
    ranked: list[tuple[float, str]] = []
    for part in (accept_language or "").split(",")[:20]:
        code, _, quality = part.strip().partition(";q=")
        try:
            weight = float(quality) if quality else 1.0
        except ValueError:
            weight = 0.0
        if code:
            ranked.append((weight, code.split("-")[0].lower()))
    return next((code for _, code in sorted(ranked, key=lambda r: -r[0]) if code in TITLE_LANGUAGES), "en")
