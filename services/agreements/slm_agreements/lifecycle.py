"""Pure agreement lifecycle rules: the transition table, who may act, and party kinds per agreement kind."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

State = Literal["draft", "proposed", "countered", "agreed", "active", "terminated", "expired"]
VersionStatus = Literal[
    "draft", "proposed", "countered", "agreed", "active", "terminated", "expired", "replaced", "superseded", "withdrawn"
]
Action = Literal["propose", "counter", "accept", "activate", "amend", "withdraw", "terminate", "expire"]
Kind = Literal["SLA", "OLA", "UC", "expectation"]
PartyKind = Literal["customer", "internal", "supplier"]
Side = Literal["provider", "consumer"]
BOTH_SIDES: frozenset[Side] = frozenset({"provider", "consumer"})

TRANSITIONS: dict[Action, tuple[frozenset[State], State]] = {
    "propose": (frozenset({"draft", "countered"}), "proposed"),
    "counter": (frozenset({"proposed", "countered"}), "countered"),
    "accept": (frozenset({"proposed", "countered"}), "agreed"),
    "activate": (frozenset({"agreed"}), "active"),
    "amend": (frozenset({"active"}), "draft"),
    # an amendment not yet in force, whatever its stage: the agreement goes back to the version in force
    "withdraw": (frozenset({"draft", "proposed", "countered", "agreed"}), "active"),
    "terminate": (frozenset({"proposed", "countered", "agreed", "active"}), "terminated"),
    "expire": (frozenset({"active"}), "expired"),
}

STAFF_ONLY: frozenset[Action] = frozenset({"activate", "amend", "withdraw", "terminate"})

# Which party kinds may stand on each side; None on the provider side means the tenant itself.
ALLOWED_PARTY_KINDS: dict[Kind, tuple[frozenset[PartyKind | None], frozenset[PartyKind]]] = {
    "SLA": (frozenset({None, "internal"}), frozenset({"customer"})),
    "OLA": (frozenset({None, "internal"}), frozenset({"internal"})),
    "UC": (frozenset({"supplier"}), frozenset({"internal"})),
    "expectation": (frozenset({None, "internal", "supplier"}), frozenset({"customer", "internal"})),
}


class IllegalTransition(Exception):
    """The action is not possible from the agreement's current state."""

    def __init__(self, action: Action, state: State) -> None:
        super().__init__(f"Cannot {action} an agreement that is {state}")
        self.action = action
        self.state = state


class NotPermitted(Exception):
    """The actor may not take this action on this agreement."""


class AlreadyAccepted(Exception):
    """Every side the actor speaks for has already accepted this version."""

    def __init__(self, sides: frozenset[Side]) -> None:
        super().__init__(f"Already accepted by the {' and '.join(sorted(sides))} side")
        self.sides = sides


@dataclass(frozen=True)
class Actor:
    """Who acts: staff of the tenant, or a customer speaking for one party."""

    subject: str
    role: str
    is_staff: bool
    party: str | None = None


@dataclass(frozen=True)
class Parties:
    """The two sides of an agreement and the kind of party on each."""

    consumer_party_id: str
    consumer_kind: PartyKind
    provider_party_id: str | None = None
    provider_kind: PartyKind | None = None


def target_state(action: Action, state: State, *, in_force: bool = False) -> State:
    """The state `action` leads to from `state`; raises IllegalTransition when not allowed.

    An agreement with a version in force while an amendment is negotiated can still be
    terminated or expire: the version in force is what ends. Only such an agreement has an amendment to
    withdraw (one never in force is terminated instead).
    """
    allowed_from, target = TRANSITIONS[action]
    if action == "withdraw" and not in_force:
        raise IllegalTransition(action, state)
    if state in allowed_from or (in_force and action in ("terminate", "expire")):
        return target
    raise IllegalTransition(action, state)


def check_actor(action: Action, actor: Actor, state: State = "draft") -> None:
    """Refuse a staff-only action taken by a customer; a customer proposes only in answer to a counter."""
    if actor.is_staff:
        return
    if action in STAFF_ONLY or (action == "propose" and state == "draft"):
        raise NotPermitted(f"Only the provider's staff may {action} an agreement")


def side_of(actor: Actor, parties: Parties) -> Side:
    """The side a proposal or counter-proposal by `actor` speaks for."""
    return "consumer" if "provider" not in sides_for(actor, parties) else "provider"


def party_kind_problems(kind: Kind, parties: Parties) -> dict[str, str]:
    """Field name to reason, for parties whose kind does not fit the agreement kind."""
    provider_allowed, consumer_allowed = ALLOWED_PARTY_KINDS[kind]
    problems: dict[str, str] = {}
    if parties.provider_kind not in provider_allowed:
        wanted = sorted(k or "none (the tenant)" for k in provider_allowed)
        problems["provider_party_id"] = f"a {kind} provider must be {' or '.join(wanted)}"
    if parties.consumer_kind not in consumer_allowed:
        problems["consumer_party_id"] = f"a {kind} consumer must be {' or '.join(sorted(consumer_allowed))}"
    return problems


def sides_for(actor: Actor, parties: Parties) -> frozenset[Side]:
    """The sides an acceptance by `actor` counts for.

    Staff speak for every side that is not a customer (internal teams, and suppliers whose
    signed contract staff record); a customer speaks only for its own party on the consumer side.
    """
    if actor.is_staff:
        sides: set[Side] = {"provider"}
        if parties.consumer_kind != "customer":
            sides.add("consumer")
        return frozenset(sides)
    if actor.party is not None and actor.party == parties.consumer_party_id:
        return frozenset({"consumer"})
    raise NotPermitted("Only the consumer party or the provider's staff may accept this agreement")


@dataclass(frozen=True)
class Acceptance:
    """The outcome of an accept: the sides newly accepted and the resulting state."""

    added: frozenset[Side]
    state: State


def accept(state: State, already: frozenset[Side], actor: Actor, parties: Parties) -> Acceptance:
    """Record `actor`'s acceptance; the agreement is agreed once both sides have accepted."""
    check_actor("accept", actor, state)
    target = target_state("accept", state)
    sides = sides_for(actor, parties)
    added = sides - already
    if not added:
        raise AlreadyAccepted(sides)
    accepted = already | added
    return Acceptance(added=added, state=target if accepted >= BOTH_SIDES else state)
