"""The indicator kinds, the data each needs measured, and the standard indicators every tenant has."""

from __future__ import annotations

from dataclasses import dataclass

MEASUREMENT_DATA: dict[str, tuple[tuple[str, ...], str]] = {
    "ratio": (("good", "total"), "counts of good and of all events per interval"),
    "threshold": (("value",), "observed values (e.g. latency) compared with the target's threshold"),
    "timeslice": (("checks_passed", "checks_total"), "probe results; a slice is good when enough checks pass"),
    "ticket_time": (
        ("ticket_id", "priority", "opened_at", "responded_at", "resolved_at"),
        "ticket timestamps; the clock runs in the offering's support hours",
    ),
}


@dataclass(frozen=True)
class IndicatorDefinition:
    """What the catalogue knows of an indicator when checking a target on it."""

    key: str
    name: str
    kind: str
    unit: str = ""
    description: str = ""
    clock: str | None = None
    id: str | None = None
    version: int = 1

    @property
    def builtin(self) -> bool:
        return self.id is None


STANDARD_INDICATORS: dict[str, IndicatorDefinition] = {
    item.key: item
    for item in (
        IndicatorDefinition("availability", "Availability", "ratio", "%", "share of successful requests"),
        IndicatorDefinition("latency", "Latency", "threshold", "ms", "request latency compared with a bound"),
        IndicatorDefinition("uptime", "Uptime", "timeslice", "%", "share of time slices in which probes pass"),
        IndicatorDefinition(
            "response_time", "Ticket response time", "ticket_time", "s", "time to first response", "response"
        ),
        IndicatorDefinition(
            "resolution_time", "Ticket resolution time", "ticket_time", "s", "time to resolve", "resolution"
        ),
    )
}
