"""Who hears of a notification at each escalation level. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from slm_shared.contracts import EVENTS

INTERNAL_EVENT_TYPES = frozenset(
    {EVENTS.objective_at_risk.type, EVENTS.objective_burn_alert.type, EVENTS.chain_at_risk.type}
)

ACTION_EVENT_TYPES = frozenset({EVENTS.action_created.type, EVENTS.action_updated.type, EVENTS.action_overdue.type})


def party_side(selector: Mapping[str, Any], event_type: str) -> str:
    """Whose contacts a selector reaches: the party it names; else the provider for internal alerts
    (at risk, burn alerts, chain warnings) and the consumer for everything else."""
    named = selector.get("party")
    if named in ("consumer", "provider"):
        return str(named)
    return "provider" if event_type in INTERNAL_EVENT_TYPES else "consumer"


def recipients_at(
    contacts: Sequence[Mapping[str, Any]], *, level: int, roles: Iterable[str] = (), fixed: Iterable[str] = ()
) -> list[str]:
    """Addresses for one level: level 1 is the level-1 contacts with the subscribed roles (every level-1
    contact when none has them) plus fixed addresses; a higher level is every contact with that escalation
    level. Roles narrow a level, never reach past it: a contact at level 3 first hears at level 3."""
    wanted_roles = set(roles)
    if level <= 1:
        first = [c for c in contacts if int(c.get("escalation_level", 1)) == 1]
        chosen = [c for c in first if c.get("role") in wanted_roles] if wanted_roles else first
        addresses = [*fixed, *(str(c["email"]) for c in chosen or first if c.get("email"))]
    else:
        addresses = [str(c["email"]) for c in contacts if int(c.get("escalation_level", 1)) == level and c.get("email")]
    return list(dict.fromkeys(addresses))


def next_level(contacts: Sequence[Mapping[str, Any]], current: int) -> int | None:
    """The next escalation level above `current` that has anyone at it, or None at the top."""
    levels = sorted({int(c.get("escalation_level", 1)) for c in contacts if c.get("email")})
    return next((level for level in levels if level > current), None)


def escalation_seconds(*candidates: int | None, default: int) -> int:
    """The first escalation time set (subscription, party, agreement), else the default."""
    return next((value for value in candidates if value), default)
