"""A pass that shares plans stores what single evaluations (each plan clipped) store, agreement terms stored.

The pass plans with `share_whole=True`: an objective whose agreement counts every range whole takes the
plan shared by objectives with its terms, nothing clipped. Single evaluations (`evaluate_objective`)
always clip. Every objective of `test_evaluation_pass_own_terms.TERMS` gets one agreement shape, as
stored terms: some count every range whole (they must share), others start, end or are amended inside the
window or the current minute (they must not: the data makes their outcome differ from an unclipped one).
A fuzz over agreement shapes, windows and instants checks the planning alone: shared or not, the same counted.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import insert, select, update
from sqlmodel import col
from test_evaluation_pass_own_terms import NOW, TERMS, _seed, same_to_rounding

from slm_measurement import evaluation_pass, pass_locks, planning, repository
from slm_measurement.agreed import Agreed
from slm_measurement.evaluation_pass import evaluate_chunk
from slm_measurement.evaluator import objective_ranges
from slm_measurement.models import Objective, ObjectiveTransition
from slm_measurement.planning import Plan, plan
from slm_measurement.service import evaluate_objective
from slm_measurement.terms import AgreementTerms
from slm_shared.db import Database
from slm_shared.terms import in_force
from slm_shared.terms.in_force import ActivatedVersion

D, S = timedelta(days=1), timedelta(seconds=1)
Version = tuple[datetime, datetime | None, datetime | None, float | None]  # from, activated, to, older target
# Each shape: its versions, and whether every range an evaluation at NOW reads is counted whole.
SHAPES: list[tuple[str, list[Version], bool]] = [
    ("in force long before", [(NOW - 400 * D, None, None, None)], True),
    ("amended long ago", [(NOW - 300 * D, None, NOW - 200 * D, 0.5), (NOW - 200 * D, None, None, None)], True),
    ("starts inside the window", [(NOW - 3 * D + 17 * S, None, None, None)], False),
    ("amended inside the window", [(NOW - 400 * D, None, NOW - 2 * D, 0.5), (NOW - 2 * D, None, None, None)], False),
    ("ends after the current minute", [(NOW - 400 * D, None, NOW + 45 * S, None)], True),
    ("ends inside the current minute", [(NOW - 400 * D, None, NOW - 10 * S, None)], False),
    ("an amendment to come", [(NOW - 400 * D, None, None, None), (NOW + 3 * D, NOW - D, None, 0.5)], True),
    # 03:00:31 in New York, seconds after its clocks went forward (07:00 UTC): a clipped plan across the change.
    (
        "starts inside the window as clocks change",
        [(datetime(2026, 3, 8, 7, 0, 31, tzinfo=UTC), None, None, None)],
        False,
    ),
]


def shape(n: int) -> tuple[str, list[Version], bool]:
    return SHAPES[n % len(SHAPES)]


def payload(n: int, number: int, start: datetime, target: float | None) -> dict[str, Any] | None:
    """An older (or later) version's activation, objective n's target another: None for the version the row holds."""
    if target is None:
        return None
    window = {"kind": "rolling", "duration": "30d"}
    objective = {"objective_id": f"objective-{n}", "indicator": "availability", "target": target, "window": window}
    return {
        "agreement_id": f"agreement-{n}",
        "version": number,
        "kind": "SLA",
        "name": "Gold",
        "service_id": "api",
        "service_key": "api",
        "effective_from": start.isoformat(),
        "objectives": [objective],
    }


def stored_terms(prefix: str, n: int) -> list[dict[str, Any]]:
    """The versions of objective n's agreement, as activation stores them."""
    return [
        {
            "tenant": TERMS[n].get("tenant", "acme"),
            "agreement_id": f"{prefix}-{n}",
            "version": number,
            "name": "Gold",
            "kind": "SLA",
            "service_key": "api",
            "effective_from": start,
            "activated_at": activated,
            "effective_to": end,
            "ticket_targets": [],
            "credit_schedule": [],
            "risks": [],
            "payload": payload(n, number, start, target),
        }
        for number, (start, activated, end, target) in enumerate(shape(n)[1], start=1)
    ]


async def test_a_pass_sharing_plans_stores_what_single_evaluations_with_clipped_plans_store(
    database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    planned: dict[str, Plan] = {}

    def seen(objective: Objective, **kwargs: Any) -> Plan:  # the real planning, its plans kept to compare
        planned[objective.id] = made = planning.plan(objective, **kwargs)
        return made

    monkeypatch.setattr(evaluation_pass, "plan", seen)
    db = Database(database_url)
    try:
        await _seed(db, prefixes=("a", "b", "c"))  # a: by a pass, b: one by one, c: by a pass, no terms stored
        async with db.session() as session:
            terms = [row for prefix in "ab" for n in range(len(TERMS)) for row in stored_terms(prefix, n)]
            await session.execute(insert(AgreementTerms), terms)
            for n in range(len(TERMS)):  # the row holds the version with no other target (see `payload`)
                holds = max(number for number, v in enumerate(shape(n)[1], start=1) if v[3] is None)
                await session.execute(
                    update(Objective).where(col(Objective.id).in_([f"a-{n}", f"b-{n}"])).values(agreement_version=holds)
                )
        async with db.session() as session:
            ids = [f"{prefix}-{n}" for prefix in "ac" for n in range(len(TERMS))]
            locked = await pass_locks.lock_due_objectives(session, objective_row_ids=ids, stale_before=NOW)
            assert await evaluate_chunk(session, locked, now=NOW) == len(ids)
        async with db.session() as session:
            for n in range(len(TERMS)):
                single = await repository.get_objective(
                    session, tenant=TERMS[n].get("tenant", "acme"), objective_row_id=f"b-{n}"
                )
                assert single is not None
                await evaluate_objective(session, single, now=NOW)
        async with db.sessionmaker() as session:
            objectives = {o.id: o for o in (await session.scalars(select(Objective))).all()}
            transitions = list((await session.scalars(select(ObjectiveTransition))).all())

        def outcome(row_id: str) -> tuple[Any, ...]:
            o = objectives[row_id]
            moved = sorted(
                (t.from_status, t.to_status, t.event, t.attainment, t.at)
                for t in transitions
                if t.objective_row_id == row_id
            )
            details = json.dumps(o.details, sort_keys=True, default=str)
            return (
                o.status,
                o.good,
                o.total,
                o.attainment,
                o.window_start,
                o.window_end,
                details,
                o.firing_alerts,
                moved,
            )

        for n in range(len(TERMS)):
            assert same_to_rounding(outcome(f"a-{n}"), outcome(f"b-{n}")), (shape(n)[0], TERMS[n])
        # Again: the stored versions and instants are known from the first pass (the plans, at NOW + S, are new).
        async with db.session() as session:
            locked = await pass_locks.lock_due_objectives(session, objective_row_ids=ids, stale_before=NOW + S)
            assert await evaluate_chunk(session, locked, now=NOW + S) == len(ids)
        async with db.session() as session:
            for n in range(len(TERMS)):
                single = await repository.get_objective(
                    session, tenant=TERMS[n].get("tenant", "acme"), objective_row_id=f"b-{n}"
                )
                assert single is not None
                await evaluate_objective(session, single, now=NOW + S)
        async with db.sessionmaker() as session:
            objectives = {o.id: o for o in (await session.scalars(select(Objective))).all()}
            transitions = list((await session.scalars(select(ObjectiveTransition))).all())
        for n in range(len(TERMS)):
            assert same_to_rounding(outcome(f"a-{n}"), outcome(f"b-{n}")), (shape(n)[0], TERMS[n])
        shared, own = [], []
        for n in range(len(TERMS)):
            name, _, whole = shape(n)
            if f"a-{n}" not in planned:  # not read with the others (timeslices): evaluated alone
                continue
            if TERMS[n].get("maintenance_windows"):  # minutes left out: always a plan of its own
                assert planned[f"a-{n}"].counted is not None
            elif whole:  # the plan of the objective with these terms and none stored: nothing clipped
                assert planned[f"a-{n}"] is planned[f"c-{n}"], name
                shared.append(n)
            else:  # clipped, and the clipping shows: an unclipped plan would store something else
                assert planned[f"a-{n}"].counted is not None, name
                assert not same_to_rounding(outcome(f"a-{n}"), outcome(f"c-{n}")), (name, TERMS[n])
                own.append(n)
        assert len(shared) >= 10 and len(own) >= 8, (shared, own)
    finally:
        await db.dispose()


# The fuzz: any agreement shape, window, lookbacks and instant; shared or not, the same ranges counted.
BASE = datetime(2026, 3, 31, 22, 0, tzinfo=UTC)  # near a change of summer time in some of the zones
ZONES = ["UTC", "Europe/Paris", "Asia/Kathmandu", "America/St_Johns", "Australia/Lord_Howe", "Pacific/Chatham"]
WINDOW_30D = ("rolling", "30d", None, "UTC")
WINDOWS = st.one_of(
    st.tuples(st.just("rolling"), st.sampled_from(["30d", "1d", "90m", "4w"]), st.none(), st.just("UTC")),
    st.tuples(st.just("calendar"), st.none(), st.sampled_from(["week", "month", "quarter"]), st.sampled_from(ZONES)),
)


def fuzzed(window: tuple[str, str | None, str | None, str], lookbacks: list[str] | None, observed: bool) -> Objective:
    kind, duration, unit, zone = window
    spans = [{"start": "2026-03-30T10:00:00+00:00", "end": "2026-03-30T11:00:00+00:00"}] if observed else []
    return Objective(
        id="row-1",
        tenant="acme",
        agreement_id="a",
        agreement_version=1,
        agreement_kind="SLA",
        objective_id="availability",
        service_key="api",
        indicator="availability",
        target=0.99,
        window_kind=kind,
        window_duration=duration,
        window_unit=unit,
        window_timezone=zone,
        maintenance_windows=[],
        details={},
        firing_alerts=[],
        forecast_lookbacks=lookbacks,
        observed=spans,
    )


@st.composite
def agreements(draw: Any, now: datetime) -> Agreed:
    """1 to 4 versions with instants near the edges that matter (minute bounds, seconds into them) or far off."""
    anchors = [now, now.replace(second=0, microsecond=0) + timedelta(minutes=1), now - timedelta(days=30)]

    def instant() -> datetime:
        if draw(st.booleans()):
            return draw(st.sampled_from(anchors)) + timedelta(seconds=draw(st.integers(-180, 180)))
        return now + timedelta(seconds=draw(st.integers(-200 * 86400, 200 * 86400)))

    versions = []
    for number in range(1, draw(st.integers(1, 4)) + 1):
        start = instant()
        versions.append(
            ActivatedVersion(
                version=number,
                effective_from=start,
                activated_at=start if draw(st.booleans()) else instant(),
                effective_to=instant() if draw(st.booleans()) else None,
                ended_at=instant() if draw(st.integers(0, 4)) == 0 else None,
            )
        )
    carried = [None, frozenset({"availability"}), frozenset({"latency"})]
    return Agreed(versions=tuple(versions), carries={v.version: draw(st.sampled_from(carried)) for v in versions})


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    window=WINDOWS,
    seconds=st.integers(0, 120 * 86400),
    lookbacks=st.sampled_from([None, ["1h", "24h"], ["7d"], ["90d"]]),
    observed=st.booleans(),
    data=st.data(),
)
def test_a_shared_plan_counts_what_the_clipped_plan_counts(
    window: tuple[str, str | None, str | None, str],
    seconds: int,
    lookbacks: list[str] | None,
    observed: bool,
    data: st.DataObject,
) -> None:
    now = BASE + timedelta(seconds=seconds, microseconds=data.draw(st.integers(0, 999_999)))
    terms = data.draw(agreements(now))
    objective = fuzzed(window, lookbacks, observed)
    start = now - timedelta(days=data.draw(st.integers(0, 100)))
    assert terms.within(start, now) == in_force.within(terms.versions, start, now)  # from the spans kept
    own = plan(objective, now=now, agreed=terms)
    shared = plan(objective, now=now, agreed=terms, share_whole=True)
    if shared.counted is not None:  # not shared: the plan clipped as ever
        assert shared == own
        return
    assert own.segments is None, (terms, own.segments)  # no version boundary judged apart
    assert (shared.bounds, shared.now_end, shared.excluded) == (own.bounds, own.now_end, own.excluded)
    shared_ranges = objective_ranges(objective, shared.ranges, shared.excluded, shared.counted)
    assert shared_ranges == objective_ranges(objective, own.ranges, own.excluded, own.counted), terms


@settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    window=WINDOWS,
    seconds=st.integers(0, 120 * 86400),
    lookbacks=st.sampled_from([None, ["1h", "24h"], ["7d"], ["90d"]]),
    data=st.data(),
)
def test_a_plan_taken_from_an_objective_with_equal_terms_is_the_one_its_own_terms_give(
    window: tuple[str, str | None, str | None, str],
    seconds: int,
    lookbacks: list[str] | None,
    data: st.DataObject,
) -> None:
    """One version, no maintenance: the plan another objective left (`planning._ONE_VERSION_PLANS`) is its own.

    The other objective has another target and row, maybe another objective id, and its agreement's
    instants are the same ones, maybe printed in another zone: whatever plan it left, the objective's
    plan prints exactly as the one worked out with nothing left (repr shows the zones), and reads the same.
    """
    now = BASE + timedelta(seconds=seconds, microseconds=data.draw(st.integers(0, 999_999)))
    terms = data.draw(agreements(now))
    version = terms.versions[0]
    terms = Agreed(versions=(version,), carries={version.version: terms.carries[version.version]})
    zone = ZoneInfo(data.draw(st.sampled_from(ZONES)))

    def shown(instant: datetime | None) -> datetime | None:
        return instant.astimezone(zone) if instant is not None and data.draw(st.booleans()) else instant

    other_version = ActivatedVersion(
        version=version.version,
        effective_from=shown(version.effective_from),  # type: ignore[arg-type]
        activated_at=shown(version.activated_at),  # type: ignore[arg-type]
        effective_to=shown(version.effective_to),
        ended_at=shown(version.ended_at),
    )
    carried = [None, frozenset({"availability"}), frozenset({"latency"})]
    other_terms = Agreed(versions=(other_version,), carries={version.version: data.draw(st.sampled_from(carried))})
    objective, other = fuzzed(window, lookbacks, False), fuzzed(window, lookbacks, False)
    other.id, other.target, other.objective_id = "row-2", 0.5, data.draw(st.sampled_from(["availability", "latency"]))
    planning._ONE_VERSION_PLANS.clear()
    plan(other, now=now, agreed=other_terms, share_whole=True)
    taken = plan(objective, now=now, agreed=terms, share_whole=True)
    planning._ONE_VERSION_PLANS.clear()
    fresh = plan(objective, now=now, agreed=terms, share_whole=True)
    assert repr(taken) == repr(fresh)
    assert taken == fresh
    assert objective_ranges(objective, taken.ranges, taken.excluded, taken.counted) == objective_ranges(
        objective, fresh.ranges, fresh.excluded, fresh.counted
    )
    own = plan(objective, now=now, agreed=terms)  # never shared: clipped as ever
    if taken.counted is not None:
        assert repr(taken) == repr(own)


def test_objectives_whose_one_version_agreements_are_equal_share_one_clipped_plan() -> None:
    """Two agreements started at one instant inside the window: their objectives take one plan, clipped."""
    now = BASE + timedelta(seconds=31)
    started = now - timedelta(days=10, seconds=43)
    versions = (ActivatedVersion(version=1, effective_from=started, activated_at=started),)
    first, second = fuzzed(WINDOW_30D, None, False), fuzzed(WINDOW_30D, None, False)
    second.id, second.target = "row-2", 0.5
    one = plan(first, now=now, agreed=Agreed(versions=versions), share_whole=True)
    assert one.counted is not None
    assert plan(second, now=now, agreed=Agreed(versions=versions), share_whole=True) is one
    elsewhere = (ActivatedVersion(1, started.astimezone(ZoneInfo("Asia/Kathmandu")), started),)
    apart = plan(second, now=now, agreed=Agreed(versions=elsewhere), share_whole=True)
    assert apart is not one and apart == one  # equal instants, another zone: a plan of its own


def test_wall_times_an_hour_apart_across_a_clock_change_do_not_share_a_plan() -> None:
    """02:30 in Paris twice on the night clocks go back: equal as Python compares them, an hour apart."""
    paris = ZoneInfo("Europe/Paris")
    earlier = datetime(2026, 10, 25, 2, 30, fold=0, tzinfo=paris)  # 00:30 UTC
    later = datetime(2026, 10, 25, 2, 30, fold=1, tzinfo=paris)  # 01:30 UTC
    assert earlier == later and earlier.astimezone(UTC) != later.astimezone(UTC)
    now = datetime(2026, 10, 26, 12, 0, 7, tzinfo=UTC)
    first, second = fuzzed(WINDOW_30D, None, False), fuzzed(WINDOW_30D, None, False)
    second.id = "row-2"
    planning._ONE_VERSION_PLANS.clear()
    one = plan(first, now=now, agreed=Agreed(versions=(ActivatedVersion(1, earlier, earlier),)), share_whole=True)
    other = Agreed(versions=(ActivatedVersion(1, later, later),))
    taken = plan(second, now=now, agreed=other, share_whole=True)
    assert taken is not one
    assert taken == plan(second, now=now, agreed=other)


def test_a_plan_in_use_outlives_more_distinct_plans_than_the_cache_holds(monkeypatch: pytest.MonkeyPatch) -> None:
    """The one-version plans drop the least recently used when full, never the whole cache: a plan taken
    again meanwhile is still the one shared, and one pushed out is worked out anew, equal to the one before."""
    monkeypatch.setattr(planning, "_ONE_VERSION_PLANS_MAX", 4)
    now = BASE + timedelta(seconds=31)
    planning._ONE_VERSION_PLANS.clear()

    def started(seconds: int) -> Agreed:
        start = now - timedelta(days=10, seconds=seconds)
        return Agreed(versions=(ActivatedVersion(version=1, effective_from=start, activated_at=start),))

    objective = fuzzed(WINDOW_30D, None, False)
    kept = plan(objective, now=now, agreed=started(0), share_whole=True)
    first = plan(objective, now=now, agreed=started(1), share_whole=True)
    for seconds in range(2, 12):  # more distinct plans than the cache holds, the first one taken between them
        assert plan(objective, now=now, agreed=started(0), share_whole=True) is kept
        plan(objective, now=now, agreed=started(seconds), share_whole=True)
    assert len(planning._ONE_VERSION_PLANS) == 4
    again = plan(objective, now=now, agreed=started(1), share_whole=True)
    assert again is not first and repr(again) == repr(first)
