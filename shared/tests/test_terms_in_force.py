"""The one definition of the version in force, worked by hand."""

from __future__ import annotations

from datetime import UTC, datetime

from slm_shared.terms.in_force import ActivatedVersion, Span, spans, version_at, within


def day(number: int) -> datetime:
    return datetime(2026, 3, number, tzinfo=UTC)


def test_the_first_version_may_be_agreed_back_but_an_amendment_starts_no_earlier_than_its_activation() -> None:
    first = ActivatedVersion(1, effective_from=day(1), activated_at=day(5))
    backdated = ActivatedVersion(2, effective_from=day(2), activated_at=day(10))
    assert spans([first, backdated]) == [Span(1, day(1), day(10)), Span(2, day(10), None)]
    assert [version_at([first, backdated], d) for d in (day(1), day(9), day(10))] == [1, 1, 2]


def test_a_future_amendment_waits_for_its_date_and_termination_ends_both() -> None:
    first = ActivatedVersion(1, effective_from=day(1), activated_at=day(1))
    later = ActivatedVersion(2, effective_from=day(20), activated_at=day(10))
    assert version_at([first, later], day(15)) == 1 and version_at([first, later], day(20)) == 2
    ended = [
        ActivatedVersion(1, effective_from=day(1), activated_at=day(1), ended_at=day(12)),
        ActivatedVersion(2, effective_from=day(20), activated_at=day(10), ended_at=day(12)),
    ]
    assert spans(ended) == [Span(1, day(1), day(12))]  # version 2 was never in force
    assert version_at(ended, day(25)) is None


def test_effective_to_ends_a_version_and_within_clips_to_a_period() -> None:
    only = ActivatedVersion(1, effective_from=day(16), activated_at=day(1), effective_to=day(25))
    assert version_at([only], day(25)) is None
    assert within([only], day(1), day(31)) == [Span(1, day(16), day(25))]
    assert within([only], day(26), day(31)) == []
