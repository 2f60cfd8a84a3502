"""Who hears of a notification at each escalation level. Pure."""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any


def recipients_at(
    contacts: Sequence[Mapping[str, Any]], *, level: int, roles: Iterable[str] = (), fixed: Iterable[str] = ()
) -> list[str]:
    """Addresses for one level: level 1 is the subscribed roles (or level-1 contacts) plus fixed
    addresses; a higher level is every contact with that escalation level."""
    wanted_roles = set(roles)
    if level <= 1:

        def first_heard(contact: Mapping[str, Any]) -> bool:
            if wanted_roles:
                return contact.get("role") in wanted_roles
            return int(contact.get("escalation_level", 1)) == 1

        chosen = [c for c in contacts if first_heard(c)]
        addresses = [*fixed, *(str(c["email"]) for c in chosen if c.get("email"))]
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
