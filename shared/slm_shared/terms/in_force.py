"""The one definition of "the version of an agreement in force at an instant", shared by every service.

Each activated version has the dates it was agreed for (`effective_from`, `effective_to`) and the
instant it was put in force (`activated_at`). The first version starts at its `effective_from` (it may
be agreed back to an earlier date); a later version (an amendment) starts at its `effective_from` or,
when activated after that date, at its activation: an amendment never rewrites time already spent
under its predecessor. A version ends at the first of its `effective_to`, the instant it was
terminated or expired (`ended_at`), and the start of any newer version. A version whose end is not
after its start was never in force.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True)
class ActivatedVersion:
    """What decides when one activated version of an agreement is in force."""

    version: int
    effective_from: datetime
    activated_at: datetime
    effective_to: datetime | None = None
    ended_at: datetime | None = None


@dataclass(frozen=True)
class Span:
    """[start, end) during which one version is in force; `end` None while open-ended."""

    version: int
    start: datetime
    end: datetime | None

    def covers(self, instant: datetime) -> bool:
        return self.start <= instant and (self.end is None or instant < self.end)


def starts_at(version: ActivatedVersion, *, first: bool) -> datetime:
    """When the version comes into force: the first at effective_from, an amendment no earlier than its activation."""
    return version.effective_from if first else max(version.effective_from, version.activated_at)


def spans(versions: Sequence[ActivatedVersion]) -> list[Span]:
    """The in-force span of every version that ever was (or will be) in force, oldest first."""
    ordered = sorted(versions, key=lambda v: v.version)
    starts = [starts_at(v, first=index == 0) for index, v in enumerate(ordered)]
    found: list[Span] = []
    for index, version in enumerate(ordered):
        ends = [e for e in (version.effective_to, version.ended_at) if e is not None] + starts[index + 1 :]
        end = min(ends) if ends else None
        if end is None or end > starts[index]:
            found.append(Span(version.version, starts[index], end))
    return found


def version_at(versions: Sequence[ActivatedVersion], instant: datetime) -> int | None:
    """The version in force at `instant`, or None when none was."""
    return next((s.version for s in spans(versions) if s.covers(instant)), None)


def within(versions: Sequence[ActivatedVersion], start: datetime, end: datetime) -> list[Span]:
    """The in-force spans clipped to [start, end), oldest first (empty when nothing was in force)."""
    return clip(spans(versions), start, end)


def clip(found: Sequence[Span], start: datetime, end: datetime) -> list[Span]:
    """`within` of the versions whose `spans` are `found` (worked out once for many ranges)."""
    clipped = []
    for span in found:
        lo, hi = max(span.start, start), end if span.end is None else min(span.end, end)
        if lo < hi:
            clipped.append(Span(span.version, lo, hi))
    return clipped
