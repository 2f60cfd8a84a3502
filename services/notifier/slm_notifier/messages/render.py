"""Render a message's subject, text and HTML from the templates of its event type and language."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from functools import cache
from importlib import resources
from typing import Any

from jinja2 import ChainableUndefined, PackageLoader, TemplateNotFound, select_autoescape
from jinja2.sandbox import ImmutableSandboxedEnvironment

from slm_shared.contracts.action_titles import proposal_kind, render_description, render_reason, render_title

LANGUAGES = ("en", "pt", "es", "pl", "ru")
FALLBACK_LANGUAGE = "en"


@dataclass(frozen=True)
class Content:
    """A rendered message: what chat, e-mail and ITSM channels show."""

    subject: str
    text: str
    html: str
    facts: list[tuple[str, str]] = field(default_factory=list)
    ack_url: str | None = None
    ack_label: str = "Acknowledge"
    severity: str = "info"
    status: str | None = None


def template_kind(event_type: str) -> str:
    """`slm.measurement.objective.breached.v1` -> `objective.breached`."""
    parts = event_type.split(".")
    return ".".join(parts[2:4]) if len(parts) >= 5 else "default"


def percent(value: Any) -> str:
    """A fraction as a percentage with up to three decimals; `n/a` when missing."""
    if not isinstance(value, int | float):
        return "n/a"
    return f"{value * 100:.3f}".rstrip("0").rstrip(".") + "%"


@cache
def labels_for(language: str) -> dict[str, Any]:
    """The translated labels of a language (English when it has none)."""
    folder = resources.files("slm_notifier.messages") / "templates"
    for candidate in (language, FALLBACK_LANGUAGE):
        path = folder / candidate / "labels.json"
        if path.is_file():
            return dict(json.loads(path.read_text(encoding="utf-8")))
    return {}


class Renderer:
    """Sandboxed (and immutable) Jinja2 templates; HTML is autoescaped, text is not."""

    def __init__(self) -> None:
        self.env = ImmutableSandboxedEnvironment(
            loader=PackageLoader("slm_notifier.messages", "templates"),
            autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
            undefined=ChainableUndefined,
            keep_trailing_newline=False,
        )
        self.env.filters["percent"] = percent

    def _text_template(self, language: str, kind: str) -> Any:
        for name in (f"{language}/{kind}.txt", f"{language}/default.txt", f"{FALLBACK_LANGUAGE}/{kind}.txt"):
            try:
                return self.env.get_template(name)
            except TemplateNotFound:
                continue
        return self.env.get_template(f"{FALLBACK_LANGUAGE}/default.txt")

    def render(
        self,
        *,
        event_type: str,
        event_id: str,
        data: dict[str, Any],
        language: str,
        agreement_name: str | None = None,
        escalation_level: int = 1,
        ack_url: str | None = None,
    ) -> Content:
        """Render the message for one event in one language."""
        labels = labels_for(language)
        values = {
            "event_type": event_type,
            "event_id": event_id,
            "data": data,
            "language": language,
            "labels": labels,
            "agreement_name": agreement_name or data.get("agreement_name") or data.get("agreement_id") or "",
            "attainment_pct": percent(data.get("attainment")),
            "objective_pct": percent(data.get("objective")),
            "window_end": data.get("window_end", ""),
            "escalation_level": escalation_level,
            "ack_url": ack_url,
            "action_title": render_title(
                data.get("title_key"), data.get("title_params"), language, str(data.get("title", ""))
            ),
            "proposal_kind": proposal_kind(str(data.get("kind", "")), language),
            "proposal_reason": render_reason(
                data.get("reason_key"), data.get("reason_params"), language, str(data.get("reason") or "")
            ),
            "action_description": render_description(
                data.get("description_key"),
                data.get("description_params"),
                language,
                str(data.get("description") or ""),
            ),
        }
        template = self._text_template(language, template_kind(event_type))
        context = template.new_context(values)
        subject = " ".join("".join(template.blocks["subject"](context)).split())[:250]
        text = "".join(template.blocks["body"](context)).strip()
        facts = _facts(data, labels, values)
        html = self.env.get_template("email.html").render(
            {**values, "subject": subject, "paragraphs": text.split("\n"), "facts": facts}
        )
        if escalation_level > 1:
            subject = f"[{labels.get('escalation', 'Escalation level')} {escalation_level}] {subject}"
        if ack_url:
            text += f"\n\n{labels.get('acknowledge_hint', '')} {ack_url}"
        status = data.get("status") if isinstance(data.get("status"), str) else None
        return Content(
            subject=subject,
            text=text,
            html=html,
            facts=facts,
            ack_url=ack_url,
            ack_label=str(labels.get("acknowledge", "Acknowledge")),
            severity=str(data.get("severity") or "info"),
            status=status,
        )


def _facts(data: dict[str, Any], labels: dict[str, Any], values: dict[str, Any]) -> list[tuple[str, str]]:
    statuses = labels.get("statuses", {})
    candidates = [
        ("agreement", values["agreement_name"]),
        ("service", data.get("service_key")),
        ("indicator", data.get("indicator")),
        ("status", statuses.get(data.get("status"), data.get("status"))),
        ("objective", values["objective_pct"] if "objective" in data else None),
        ("attainment", values["attainment_pct"] if "attainment" in data else None),
        ("window", f"{data['window_start']} to {data['window_end']}" if "window_start" in data else None),
    ]
    return [(str(labels.get(key, key)), str(value)) for key, value in candidates if value not in (None, "")]
