"""Ticket clocks in business time, counted the way ServiceNow, Jira Service Management and GLPI do.

Pure functions over a ticket's lifecycle events (sorted by instant). The semantics:

- Both clocks start when the ticket is opened and count business time of the agreement's calendar
  (hours, holidays, time zone) while the ticket is neither paused nor stopped.
- A pause state (e.g. awaiting customer; or any event with `paused: true`) stops both clocks
  until a state change leaves it; paused time never counts.
- The response clock stops for good at the first response; resolving (or closing) also stops it.
- The resolution clock stops at resolution (or closure). A reopen resumes it from the business
  time already elapsed (it does not start from zero), so a ticket's resolution goal covers all of
  its open time. A response clock that stopped stays stopped.
- A cancelled ticket's clocks are cancelled: no warnings, no breach, and not counted in compliance.
- The goal follows the ticket's current priority (a re-prioritised ticket keeps its elapsed time).
- A clock is breached once it has counted more than its goal while running (reaching exactly the
  goal at the instant it stops is met); the breach instant is when the count reaches the goal.
- Warnings fall when the count reaches each warning share of the goal (50% and 75% by default),
  each once; a warning that would fall together with its breach (late data) is not sent.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from slm_shared import calendars

RESPONSE = "response"
RESOLUTION = "resolution"
CLOCKS = (RESPONSE, RESOLUTION)
BREACH = 1.0
DEFAULT_PAUSE_STATES = frozenset(
    {"awaiting_customer", "awaiting_info", "awaiting_vendor", "awaiting_change", "on_hold", "pending"}
)
EVENT_KINDS = ("opened", "assigned", "state_changed", "responded", "resolved", "closed", "reopened", "cancelled")


@dataclass(frozen=True)
class TicketEvent:
    """One lifecycle event: `kind` is one of EVENT_KINDS; `paused` overrides the pause-state rule."""

    at: datetime
    kind: str
    state: str | None = None
    paused: bool | None = None
    priority: str | None = None


@dataclass
class ClockRun:
    """When one clock ran: half-open intervals (the last may be open), and whether it is done."""

    intervals: list[tuple[datetime, datetime | None]] = field(default_factory=list)
    stopped_at: datetime | None = None
    cancelled: bool = False
    paused: bool = False

    def start(self, at: datetime) -> None:
        if not self.intervals or self.intervals[-1][1] is not None:
            self.intervals.append((at, None))

    def halt(self, at: datetime) -> None:
        if self.intervals and self.intervals[-1][1] is None:
            self.intervals[-1] = (self.intervals[-1][0], at)

    @property
    def running(self) -> bool:
        return bool(self.intervals) and self.intervals[-1][1] is None


@dataclass
class Lifecycle:
    """What a ticket's events add up to: both clock runs, the current priority and state."""

    clocks: dict[str, ClockRun]
    priority: str | None
    state: str
    opened_at: datetime | None


def is_pause(event: TicketEvent, pause_states: frozenset[str]) -> bool:
    if event.paused is not None:
        return event.paused
    return (event.state or "").lower() in pause_states


def lifecycle(events: Iterable[TicketEvent], pause_states: frozenset[str] = DEFAULT_PAUSE_STATES) -> Lifecycle:
    """Replay the events into clock runs (events must be sorted by instant)."""
    clocks = {name: ClockRun() for name in CLOCKS}
    priority, state, opened_at = None, "new", None
    live = {RESPONSE: False, RESOLUTION: False}  # counting when not paused
    paused = False

    def settle(at: datetime) -> None:
        for name, run in clocks.items():
            run.paused = live[name] and paused
            if live[name] and not paused:
                run.start(at)
            else:
                run.halt(at)

    for event in events:
        priority = event.priority or priority
        kind = event.kind
        if kind == "opened" and opened_at is None:
            opened_at, state = event.at, event.state or "open"
            live = {RESPONSE: True, RESOLUTION: True}
            paused = is_pause(event, pause_states)
        elif opened_at is None or state == "cancelled":
            continue
        elif kind == "state_changed" and state not in ("resolved", "closed"):
            state = event.state or state
            paused = is_pause(event, pause_states)
        elif kind == "responded" and live[RESPONSE]:
            live[RESPONSE] = False
            clocks[RESPONSE].stopped_at = event.at
        elif kind in ("resolved", "closed"):
            state = kind
            for name in CLOCKS:
                if live[name]:
                    live[name] = False
                    clocks[name].stopped_at = event.at
        elif kind == "reopened" and state in ("resolved", "closed"):
            state, paused = event.state or "reopened", is_pause(event, pause_states)
            live[RESOLUTION], clocks[RESOLUTION].stopped_at = True, None
        elif kind == "cancelled":
            state = "cancelled"
            live = {RESPONSE: False, RESOLUTION: False}
            for run in clocks.values():
                run.cancelled = True
        settle(event.at)
    return Lifecycle(clocks=clocks, priority=priority, state=state, opened_at=opened_at)


def calendar_of(document: dict[str, Any] | None, timezone: str = "UTC") -> calendars.Calendar:
    """The business calendar of an agreement (the catalogue's calendar shape); none means 24x7."""
    if not document:
        return calendars.ALWAYS
    holidays = frozenset(
        date.fromisoformat(str(h["date"] if isinstance(h, dict) else h)) for h in document.get("holidays") or ()
    )
    return calendars.Calendar(
        timezone=document.get("timezone") or timezone,
        hours=tuple(calendars.hours_on(h["day"], h["start"], h["end"]) for h in document.get("hours") or ()),
        holidays=holidays,
        country=document.get("country"),
        subdivision=document.get("subdivision"),
    )


def elapsed(run: ClockRun, calendar: calendars.Calendar, now: datetime) -> float:
    """Business seconds the clock has counted up to `now`."""
    total = 0.0
    for start, end in run.intervals:
        if start >= now:
            break
        total += calendars.business_seconds(calendar, start, min(end or now, now))
    return total


def instant_at(run: ClockRun, calendar: calendars.Calendar, seconds: float) -> datetime | None:
    """The instant the clock's count reaches `seconds`, or None if it stopped short of it."""
    counted = 0.0
    for start, end in run.intervals:
        span = math.inf if end is None else calendars.business_seconds(calendar, start, end)
        if counted + span >= seconds:
            return calendars.add_business_seconds(calendar, start, max(seconds - counted, 0.0))
        counted += span
    return None


@dataclass(frozen=True)
class ClockView:
    """A clock at one instant."""

    name: str
    goal_seconds: int
    elapsed_seconds: float
    remaining_seconds: float
    state: str  # running, paused, met, breached, cancelled
    breach_at: datetime | None
    stopped_at: datetime | None
    thresholds: dict[float, datetime | None]

    @property
    def share(self) -> float:
        return self.elapsed_seconds / self.goal_seconds if self.goal_seconds else 0.0


def view(
    name: str, run: ClockRun, calendar: calendars.Calendar, goal: int, now: datetime, warnings: Sequence[float]
) -> ClockView:
    """The clock's elapsed and remaining time, state, breach instant and threshold instants."""
    counted = elapsed(run, calendar, now)
    breach_at = instant_at(run, calendar, goal)
    total = elapsed(run, calendar, run.stopped_at) if run.stopped_at is not None else counted
    if run.cancelled:
        state = "cancelled"
    elif counted > goal or (breach_at is not None and breach_at <= now and (run.running or run.paused)):
        state = "breached"
    elif run.stopped_at is not None:
        state = "met" if total <= goal else "breached"
    else:
        state = "paused" if run.paused else "running"
    thresholds = {share: instant_at(run, calendar, goal * share) for share in (*sorted(warnings), BREACH)}
    return ClockView(name, goal, counted, goal - counted, state, breach_at, run.stopped_at, thresholds)


def crossed(clock: ClockView, now: datetime) -> list[float]:
    """Thresholds the clock has passed by `now` (a stopped clock passes a share only if it counted beyond it)."""
    if clock.state == "cancelled":
        return []
    found = []
    for share, instant in clock.thresholds.items():
        if share == BREACH:
            if clock.state == "breached":
                found.append(share)
        elif (
            instant is not None
            and instant <= now
            and clock.elapsed_seconds > clock.goal_seconds * share - 1e-9
            and (clock.stopped_at is None or instant < clock.stopped_at)
        ):
            found.append(share)
    return found


def to_fire(clock: ClockView, fired: set[float], now: datetime) -> tuple[list[float], list[float]]:
    """(thresholds to report now, thresholds to mark done silently): warnings overtaken by a breach are not sent."""
    new = [share for share in crossed(clock, now) if share not in fired]
    if BREACH in new and len(new) > 1:
        return [BREACH], [share for share in new if share != BREACH]
    return new, []


def next_due(clock: ClockView, fired: set[float], now: datetime) -> datetime | None:
    """The next instant a threshold of this clock falls, if it is running."""
    if clock.state not in ("running",):
        return None
    upcoming = [i for s, i in clock.thresholds.items() if s not in fired and i is not None and i > now]
    return min(upcoming, default=None)
