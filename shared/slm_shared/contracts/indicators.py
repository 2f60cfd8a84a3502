"""The standard indicators every tenant has without creating them (the catalogue defines them)."""

from __future__ import annotations

STANDARD_INDICATOR_KEYS: frozenset[str] = frozenset(
    {"availability", "latency", "uptime", "response_time", "resolution_time"}
)
