# ruff: noqa: RUF001 - Russian words are written in Cyrillic
"""Titles and descriptions the platform writes for improvement actions, kept as a message key and parameters
and rendered in the reader's language (en, pt, es, pl, ru). One table, read by agreements, measurement and the
notifier."""

from __future__ import annotations

from collections.abc import Mapping

TITLE_LANGUAGES = ("en", "pt", "es", "pl", "ru")
RESTORE = "action.restore_indicator"
BREACHED = "action.breach_description"

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


DESCRIPTIONS: dict[str, tuple[str, str, str, str, str]] = {
    BREACHED: (
        "Objective {objective}: attainment {attainment} against a target of {target} (window {window_start} to "
        "{window_end}).",
        "Objetivo {objective}: atingimento de {attainment} para uma meta de {target} (janela de {window_start} a "
        "{window_end}).",
        "Objetivo {objective}: cumplimiento de {attainment} frente a una meta de {target} (ventana del "
        "{window_start} al {window_end}).",
        "Cel {objective}: osiągnięcie {attainment} wobec progu {target} (okno od {window_start} do {window_end}).",
        "Цель {objective}: достижение {attainment} при целевом значении {target} (окно с {window_start} по "
        "{window_end}).",
    ),
}
# Why the portfolio drafted a proposal for the next period.
AMENDMENT, TIER_CHANGE, ACT_NOW = "proposal.amendment", "proposal.tier_change", "proposal.improvement_action"
REASONS: dict[str, tuple[str, str, str, str, str]] = {
    AMENDMENT: (
        "missed in {misses} of the last {periods} periods: renegotiate the target or cover",
        "não cumprido em {misses} dos últimos {periods} períodos: renegociar a meta ou a cobertura",
        "incumplido en {misses} de los últimos {periods} períodos: renegociar la meta o la cobertura",
        "niespełniony w {misses} z ostatnich {periods} okresów: renegocjować próg lub pokrycie",
        "не выполнено в {misses} из последних {periods} периодов: пересогласовать целевое значение или покрытие",
    ),
    TIER_CHANGE: (
        "met with half its budget to spare in all {periods} periods: offer a higher tier",
        "cumprido com metade do orçamento de erro de sobra em todos os {periods} períodos: oferecer um nível superior",
        "cumplido con la mitad del presupuesto de error de sobra en los {periods} períodos: ofrecer un nivel superior",
        "spełniony z połową budżetu błędów w zapasie we wszystkich {periods} okresach: zaproponować wyższy poziom",
        "выполнено с запасом в половину бюджета ошибок во всех {periods} периодах: предложить более высокий уровень",
    ),
    ACT_NOW: (
        "{state} now: act before the period ends",
        "{state} agora: agir antes do fim do período",
        "{state} ahora: actuar antes de que termine el período",
        "{state} teraz: działać przed końcem okresu",
        "{state} сейчас: действовать до конца периода",
    ),
}
STATES: dict[str, tuple[str, str, str, str, str]] = {
    "at_risk": ("at risk", "em risco", "en riesgo", "zagrożony", "под угрозой"),
    "breached": ("breached", "violado", "incumplido", "naruszony", "нарушено"),
    "forecast": ("forecast to miss", "com previsão de falha", "con previsión de incumplir",
                 "prognozowane niespełnienie", "прогнозируется невыполнение"),
}  # fmt: skip
PROPOSAL_KINDS: dict[str, tuple[str, str, str, str, str]] = {
    "tier_change": ("tier change", "mudança de nível", "cambio de nivel", "zmiana poziomu", "смена уровня"),
    "amendment": ("amendment", "aditamento", "enmienda", "aneks", "изменение соглашения"),
    "improvement_action": ("improvement action", "ação de melhoria", "acción de mejora", "działanie doskonalące",
                           "мера по улучшению"),
}  # fmt: skip
UNKNOWN = ("unknown", "desconhecido", "desconocido", "nieznane", "неизвестно")
_PERCENT_SPACE = {"es": "\u00a0", "ru": "\u00a0"}  # as CLDR writes a percentage in these languages


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


def percent_in(value: float, lang: str | None, digits: int = 4) -> str:
    """A share as a percentage written the language's way (decimal comma, the space before % where usual)."""
    language = language_of(lang)
    text = f"{value * 100:.{digits}f}"
    if language != "en":
        text = text.replace(".", ",")
    return f"{text}{_PERCENT_SPACE.get(language, '')}%"


def objective_label(name: str | None, indicator: str, target: float, lang: str | None) -> str:
    """An objective by its name, else by the name the platform gives it (indicator ≥ target), never its id."""
    if name:
        return name
    return f"{indicator_word(indicator, lang)} ≥ {percent_in(target, lang, 3)}"


def render_description(key: str | None, params: Mapping[str, object] | None, lang: str | None, fallback: str) -> str:
    """A platform-written description in `lang`; `fallback` (the stored text) when there is no key or it is
    unknown."""
    templates = DESCRIPTIONS.get(key or "")
    if templates is None:
        return fallback
    language = language_of(lang)
    values = {name: str(value) for name, value in (params or {}).items()}
    try:
        target = float(values["target"])
        attainment = values.get("attainment")
        values["objective"] = objective_label(values.get("objective_name"), values["indicator"], target, language)
        values["target"] = percent_in(target, language)
        values["attainment"] = (
            percent_in(float(attainment), language) if attainment else UNKNOWN[TITLE_LANGUAGES.index(language)]
        )
        return templates[TITLE_LANGUAGES.index(language)].format(**values)[:2000]
    except (KeyError, IndexError, ValueError):
        return fallback


def render_reason(key: str | None, params: Mapping[str, object] | None, lang: str | None, fallback: str) -> str:
    """Why a proposal was drafted, in `lang`; `fallback` (the stored text) when there is no key or it is unknown."""
    templates = REASONS.get(key or "")
    if templates is None:
        return fallback
    index = TITLE_LANGUAGES.index(language_of(lang))
    values = {name: str(value) for name, value in (params or {}).items()}
    if "state" in values:
        words = STATES.get(values["state"])
        values["state"] = words[index] if words else values["state"]
    try:
        return templates[index].format(**values)[:1000]
    except (KeyError, IndexError):
        return fallback


def proposal_kind(kind: str, lang: str | None) -> str:
    """A proposal's kind in `lang` (the kind itself when it has no translation)."""
    words = PROPOSAL_KINDS.get(kind)
    return words[TITLE_LANGUAGES.index(language_of(lang))] if words else kind.replace("_", " ")


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
