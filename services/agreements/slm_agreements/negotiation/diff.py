"""Pure comparison of two versions' terms: what was added, removed or changed, section by section."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from typing import Any

SCALAR_TERMS = (
    "effective_from",
    "effective_to",
    "review_cycle",
    "renewal_notice_days",
    "timezone",
    "support_calendar",
    "credit_terms",
    "observation_terms",
    "measured_scope",
    "offering_id",
    "offering_version",
)
Snapshot = Mapping[str, Any]
Change = dict[str, Any]


def _keyed(items: Sequence[dict[str, Any]], key: Callable[[dict[str, Any]], str]) -> dict[str, dict[str, Any]]:
    return {key(item): item for item in items}


def _compare(
    section: str,
    before: dict[str, dict[str, Any]],
    after: dict[str, dict[str, Any]],
    ignore: frozenset[str] = frozenset(),
) -> list[Change]:
    changes: list[Change] = []
    for key in sorted(before.keys() - after.keys()):
        changes.append({"section": section, "key": key, "change": "removed", "before": before[key], "after": None})
    for key in sorted(after.keys() - before.keys()):
        changes.append({"section": section, "key": key, "change": "added", "before": None, "after": after[key]})
    for key in sorted(before.keys() & after.keys()):
        old, new = before[key], after[key]
        fields = sorted(name for name in (old.keys() | new.keys()) - ignore if old.get(name) != new.get(name))
        if fields:
            changes.append(
                {
                    "section": section,
                    "key": key,
                    "change": "changed",
                    "before": {name: old.get(name) for name in fields},
                    "after": {name: new.get(name) for name in fields},
                }
            )
    return changes


def _objective_key(
    before: Sequence[dict[str, Any]], after: Sequence[dict[str, Any]]
) -> Callable[[dict[str, Any]], str]:
    """Objectives are named by indicator when that is unambiguous in both versions, else by id."""
    counts = [Counter(o["indicator"] for o in side) for side in (before, after)]
    if all(count <= 1 for side in counts for count in side.values()):
        return lambda o: str(o["indicator"])
    return lambda o: str(o["id"])


def _without(item: dict[str, Any], *names: str) -> dict[str, Any]:
    return {k: v for k, v in item.items() if k not in names}


def _windows(items: Sequence[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    return {f"{w.get('start')} {w.get('rrule') or w.get('end')}": w for w in items}


def _band_key(band: Mapping[str, Any]) -> str:
    covered = band.get("indicator")
    return f"below {band['below']}" + (f" on {covered}" if covered else "")


def diff_versions(before: Snapshot, after: Snapshot) -> list[Change]:
    """Every difference from `before` to `after`: objectives, ticket targets, credits, price, windows, terms."""
    key = _objective_key(before["objectives"], after["objectives"])
    changes = _compare(
        "objectives",
        {key(o): _without(o, "position") for o in before["objectives"]},
        {key(o): _without(o, "position") for o in after["objectives"]},
        ignore=frozenset({"id"}),
    )
    changes += _compare(
        "ticket_targets",
        _keyed(before["ticket_targets"], lambda t: str(t["priority"])),
        _keyed(after["ticket_targets"], lambda t: str(t["priority"])),
    )
    changes += _compare(
        "service_credits",
        _keyed(before["service_credits"], _band_key),
        _keyed(after["service_credits"], _band_key),
    )
    if before["price"] != after["price"]:
        changes.append(
            {
                "section": "price",
                "key": "price",
                "change": _kind(before["price"], after["price"]),
                "before": before["price"],
                "after": after["price"],
            }
        )
    changes += _compare(
        "maintenance_windows", _windows(before["maintenance_windows"]), _windows(after["maintenance_windows"])
    )
    for name in SCALAR_TERMS:
        if before.get(name) != after.get(name):
            changes.append(
                {
                    "section": "terms",
                    "key": name,
                    "change": _kind(before.get(name), after.get(name)),
                    "before": before.get(name),
                    "after": after.get(name),
                }
            )
    return changes


def _kind(before: Any, after: Any) -> str:
    if before is None:
        return "added"
    return "removed" if after is None else "changed"
