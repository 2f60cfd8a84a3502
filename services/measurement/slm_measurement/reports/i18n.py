# ruff: noqa: RUF001 - Russian words are written in Cyrillic
"""Report languages (en, pt, es, pl, ru): the words, and numbers and dates formatted with babel."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal
from zoneinfo import ZoneInfo

from babel import Locale, dates, numbers

from slm_shared.contracts.action_titles import INDICATOR_WORDS, render_description, render_title

LANGUAGES = ("en", "pt", "es", "pl", "ru")
KEYS = (
    "report", "review_pack", "agreement", "service", "customer", "period", "generated", "objectives", "objective",
    "target", "attainment", "result", "met", "missed", "no_data", "budget_left", "events", "breaches", "start", "end",
    "ongoing", "none", "tickets", "priority", "clock", "response", "resolution", "within_goal", "compliance",
    "maintenance", "excluded_minutes", "trend", "burn_down", "actions", "action", "owner", "due", "status",
    "credits", "credit_percent", "period_price", "credit_amount", "no_price",
)  # fmt: skip
_WORDS = {
    "en": ("Service report", "Service review pack", "Agreement", "Service", "Customer", "Period", "Generated",
           "Objectives", "Objective", "Target", "Attainment", "Result", "Met", "Missed", "No data", "Budget left",
           "Good / total", "Breaches", "Start", "End", "ongoing", "None", "Tickets", "Priority", "Clock", "Response",
           "Resolution", "Within goal", "Compliance", "Maintenance", "Excluded minutes", "Attainment trend",
           "Error budget burn-down", "Open improvement actions", "Action", "Owner", "Due", "Status", "Service credits",
           "Credit", "Price of the period", "Credit owed", "no price known"),
    "pt": ("Relatório de serviço", "Pacote de revisão de serviço", "Acordo", "Serviço", "Cliente", "Período", "Gerado",
           "Objetivos", "Objetivo", "Meta", "Atingimento", "Resultado", "Cumprido", "Falhado", "Sem dados",
           "Orçamento restante", "Bons / total", "Violações", "Início", "Fim", "em curso", "Nenhuma", "Chamados",
           "Prioridade", "Relógio", "Resposta", "Resolução", "Dentro da meta", "Conformidade", "Manutenção",
           "Minutos excluídos", "Tendência de atingimento", "Consumo do orçamento de erro", "Ações de melhoria abertas",
           "Ação", "Responsável", "Prazo", "Estado", "Créditos de serviço", "Crédito", "Preço do período",
           "Crédito devido", "preço desconhecido"),
    "es": ("Informe de servicio", "Paquete de revisión de servicio", "Acuerdo", "Servicio", "Cliente", "Período",
           "Generado", "Objetivos", "Objetivo", "Meta", "Cumplimiento", "Resultado", "Cumplido", "Incumplido",
           "Sin datos", "Presupuesto restante", "Buenos / total", "Incumplimientos", "Inicio", "Fin", "en curso",
           "Ninguno", "Tickets", "Prioridad", "Reloj", "Respuesta", "Resolución", "Dentro del objetivo",
           "Conformidad", "Mantenimiento", "Minutos excluidos", "Tendencia de cumplimiento",
           "Consumo del presupuesto de error", "Acciones de mejora abiertas", "Acción", "Responsable", "Vence",
           "Estado", "Créditos de servicio", "Crédito", "Precio del período", "Crédito adeudado",
           "precio desconocido"),
    "pl": ("Raport z usługi", "Pakiet przeglądu usług", "Umowa", "Usługa", "Klient", "Okres", "Wygenerowano", "Cele",
           "Cel", "Próg", "Osiągnięcie", "Wynik", "Spełniony", "Niespełniony", "Brak danych", "Pozostały budżet",
           "Dobre / wszystkie", "Naruszenia", "Początek", "Koniec", "trwa", "Brak", "Zgłoszenia", "Priorytet", "Zegar",
           "Reakcja", "Rozwiązanie", "W terminie", "Zgodność", "Prace serwisowe", "Wyłączone minuty",
           "Trend osiągnięcia", "Zużycie budżetu błędów", "Otwarte działania doskonalące", "Działanie",
           "Właściciel", "Termin", "Status", "Rekompensaty", "Rekompensata", "Cena okresu", "Należna rekompensata",
           "cena nieznana"),
    "ru": ("Отчёт об услуге", "Пакет обзора услуг", "Соглашение", "Услуга", "Клиент", "Период", "Создан", "Цели",
           "Цель", "Целевое значение", "Достижение", "Итог", "Выполнена", "Не выполнена", "Нет данных",
           "Остаток бюджета", "Успешные / всего", "Нарушения", "Начало", "Конец", "продолжается", "Нет", "Заявки",
           "Приоритет", "Таймер", "Реакция", "Решение", "В срок", "Соблюдение", "Обслуживание", "Исключено минут",
           "Динамика достижения", "Расход бюджета ошибок", "Открытые меры по улучшению", "Мера", "Ответственный",
           "Срок", "Статус", "Сервисные кредиты", "Кредит", "Цена периода", "Причитающийся кредит",
           "цена неизвестна"),
}  # fmt: skip
MESSAGES = {lang: dict(zip(KEYS, words, strict=True)) for lang, words in _WORDS.items()}
# Words added since: one entry per key, each language beside the others.
_MORE = {
    "observations": ("Customer observations", "Observações do cliente", "Observaciones del cliente",
                     "Obserwacje klienta", "Наблюдения клиента"),
    "customer_observed": ("customer-observed", "observado pelo cliente", "observado por el cliente",
                          "zaobserwowane przez klienta", "по наблюдению клиента"),
    "observed_minutes": ("Customer-observed minutes", "Minutos observados pelo cliente",
                         "Minutos observados por el cliente", "Minuty zaobserwowane przez klienta",
                         "Минуты по наблюдению клиента"),
    "what_seen": ("What was seen", "O que foi observado", "Lo observado", "Co zaobserwowano", "Что наблюдалось"),
    "impact": ("Impact", "Impacto", "Impacto", "Wpływ", "Влияние"),
    "counts": ("Counts", "Conta", "Cuenta", "Liczy się", "Учитывается"),
    "yes": ("yes", "sim", "sí", "tak", "да"),
    "no": ("no", "não", "no", "nie", "нет"),
    "withdrawn": ("withdrawn", "retirada", "retirada", "wycofana", "отозвано"),
    "chain_diagnosis": ("Chain diagnosis", "Diagnóstico da cadeia", "Diagnóstico de la cadena", "Diagnoza łańcucha",
                        "Диагностика цепочки"),
    "supporting_service": ("Supporting service", "Serviço de suporte", "Servicio de soporte", "Usługa wspierająca",
                           "Поддерживающая услуга"),
    "contribution": ("Contribution", "Contribuição", "Contribución", "Udział", "Вклад"),
    "status_at_risk": ("at risk", "em risco", "en riesgo", "zagrożony", "под угрозой"),
    "status_breached": ("breached", "violado", "incumplido", "naruszony", "нарушена"),
    "day": ("Day", "Dia", "Día", "Dzień", "День"),
    "agreed_outcomes": ("Agreed outcomes", "Resultados acordados", "Resultados acordados", "Uzgodnione ustalenia",
                        "Согласованные решения"),
    "agreed_outcomes_hint": ("To be filled in at the review meeting.", "A preencher na reunião de revisão.",
                             "A completar en la reunión de revisión.", "Do uzupełnienia na spotkaniu przeglądowym.",
                             "Заполняется на встрече по обзору."),
    "period_summary": ("Period summary", "Resumo do período", "Resumen del período", "Podsumowanie okresu",
                       "Итоги периода"),
    "objectives_met_of": ("objectives met", "objetivos cumpridos", "objetivos cumplidos", "spełnionych celów",
                          "целей выполнено"),
    "impact_low": ("low", "baixo", "bajo", "niski", "низкое"),
    "impact_medium": ("medium", "médio", "medio", "średni", "среднее"),
    "impact_high": ("high", "alto", "alto", "wysoki", "высокое"),
    "impact_critical": ("critical", "crítico", "crítico", "krytyczny", "критическое"),
    "status_open": ("open", "aberta", "abierta", "otwarte", "открыто"),
    "status_in_progress": ("in progress", "em curso", "en curso", "w toku", "в работе"),
    "status_done": ("done", "concluída", "hecha", "zakończone", "выполнено"),
    "status_cancelled": ("cancelled", "cancelada", "cancelada", "anulowane", "отменено"),
    "overdue": ("overdue", "atrasada", "vencida", "po terminie", "просрочено"),
    "change_request": ("Request for change", "Pedido de mudança", "Solicitud de cambio", "Wniosek o zmianę",
                       "Запрос на изменение"),
    "change_requested": ("requested", "solicitada", "solicitada", "zgłoszony", "запрошено"),
    "change_new": ("new", "nova", "nueva", "nowy", "новое"),
    "change_assessing": ("being assessed", "em avaliação", "en evaluación", "w ocenie", "на оценке"),
    "change_scheduled": ("scheduled", "agendada", "programada", "zaplanowany", "запланировано"),
    "change_implementing": ("being implemented", "em implementação", "en implementación", "we wdrażaniu",
                            "внедряется"),
    "change_reviewing": ("in review", "em revisão", "en revisión", "w przeglądzie", "на проверке"),
    "change_closed": ("closed", "encerrada", "cerrada", "zamknięty", "закрыто"),
    "change_cancelled": ("cancelled", "cancelada", "cancelada", "anulowany", "отменено"),
    "change_failed": ("failed", "malsucedida", "fallida", "nieudany", "неуспешно"),
    "provider_notes": ("Provider's notes", "Notas do provedor", "Notas del proveedor", "Uwagi dostawcy",
                       "Примечания поставщика"),
}  # fmt: skip
_MORE.update({f"ind_{name}": words for name, words in INDICATOR_WORDS.items()})  # one table with action titles
for _key, _words in _MORE.items():
    for _lang, _word in zip(LANGUAGES, _words, strict=True):
        MESSAGES[_lang][_key] = _word


def choose(lang: str | None, accept_language: str | None) -> str:
    """The language asked for by `?lang=`, else the best of Accept-Language, else English."""
    if lang:
        code = lang.split("-")[0].split("_")[0].lower()
        if code in LANGUAGES:
            return code
        raise ValueError(f"language {lang!r} is not one of {', '.join(LANGUAGES)}")
    wanted = []
    for part in (accept_language or "").split(","):
        pieces = part.strip().split(";q=")
        try:
            weight = float(pieces[1]) if len(pieces) > 1 else 1.0
        except ValueError:
            weight = 0.0
        if pieces[0]:
            wanted.append((weight, pieces[0].split("-")[0].lower()))
    for _weight, code in sorted(wanted, key=lambda w: -w[0]):
        if code in LANGUAGES:
            return code
    return "en"


@dataclass(frozen=True)
class Formatter:
    """Words, numbers, money and instants for one language, instants shown in one time zone."""

    lang: str
    timezone: str = "UTC"

    @property
    def locale(self) -> Locale:
        return Locale.parse({"pt": "pt_BR"}.get(self.lang, self.lang))

    def t(self, key: str) -> str:
        return MESSAGES[self.lang][key]

    def percent(self, value: float | None, digits: int = 2) -> str:
        if value is None:
            return "—"
        return numbers.format_percent(value, format="#,##0." + "0" * digits + "%", locale=self.locale)

    def number(self, value: float | int | Decimal | None, digits: int = 0) -> str:
        if value is None:
            return "—"
        pattern = "#,##0" + ("." + "#" * digits if digits else "")
        return numbers.format_decimal(value, format=pattern, locale=self.locale)

    def money(self, amount: Decimal | None, currency: str | None) -> str:
        if amount is None or not currency:
            return "—"
        return numbers.format_currency(amount, currency, locale=self.locale)

    def instant(self, value: datetime | None) -> str:
        if value is None:
            return "—"
        return dates.format_datetime(value, format="medium", tzinfo=ZoneInfo(self.timezone), locale=self.locale)

    def objective_name(self, objective: dict[str, object]) -> str:
        """The objective's own name, or the name the platform gives it, in this language."""
        if not objective.get("generated_name"):
            return str(objective["name"])
        indicator = str(objective["indicator"]).split("#")[0]
        word = MESSAGES[self.lang].get(f"ind_{indicator}", indicator.replace("_", " ").capitalize())
        return f"{word} ≥ {self.percent(float(str(objective['target'])), 3)}"

    def word(self, prefix: str, value: str) -> str:
        """A platform value (status, impact) in this language; the value itself when it has no translation."""
        return MESSAGES[self.lang].get(f"{prefix}_{value}", value)

    def action_title(self, action: dict[str, object]) -> str:
        """An action's title: the one the platform wrote, in this language; a person's as written."""
        params = action.get("title_params")
        return render_title(
            str(action.get("title_key") or ""),
            params if isinstance(params, dict) else None,
            self.lang,
            str(action.get("title", "")),
        )

    def action_description(self, action: dict[str, object]) -> str:
        """An action's description: the one the platform wrote, in this language; a person's as written."""
        params = action.get("description_params")
        return render_description(
            str(action.get("description_key") or ""),
            params if isinstance(params, dict) else None,
            self.lang,
            str(action.get("description") or ""),
        )

    def day(self, value: datetime) -> str:
        return dates.format_date(value.astimezone(ZoneInfo(self.timezone)), format="medium", locale=self.locale)
