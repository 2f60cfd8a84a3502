"""The chain maths: walking the graph every level down and up, what composes, and contributions."""

from __future__ import annotations

import pytest

from slm_measurement.chain.graph import composable, contribution, walk

EDGES = [("shop", "payments"), ("payments", "cardnet"), ("payments", "db"), ("db", "storage"), ("storage", "db")]


def test_walks_every_level_down_once_at_the_shallowest_depth_and_survives_cycles() -> None:
    found = {r.key: (r.depth, r.path) for r in walk(EDGES, "shop")}
    assert found == {
        "payments": (1, ("shop", "payments")),
        "cardnet": (2, ("shop", "payments", "cardnet")),
        "db": (2, ("shop", "payments", "db")),
        "storage": (3, ("shop", "payments", "db", "storage")),
    }


def test_walks_up_to_every_service_that_runs_on_one() -> None:
    assert {r.key: r.depth for r in walk(EDGES, "storage", up=True)} == {"db": 1, "payments": 2, "shop": 3}


@pytest.mark.parametrize(
    ("sla", "supporting", "expected"),
    [
        (("ratio", "availability"), ("ratio", "availability"), True),
        (("threshold", "latency#lte#0.3"), ("threshold", "latency"), True),
        (("timeslice", "availability"), ("ratio", "availability"), True),
        (("ratio", "availability"), ("ratio", "latency"), False),
        (("ticket_time", "resolution"), ("ticket_time", "resolution"), False),
    ],
)
def test_composes_shares_of_good_on_the_same_indicator(
    sla: tuple[str, str], supporting: tuple[str, str], expected: bool
) -> None:
    assert composable(sla[0], sla[1], supporting[0], supporting[1]) is expected


def test_contribution_is_the_supporting_bad_share_of_the_sla_bad_share_at_most_one() -> None:
    assert contribution(0.95, 0.99) == pytest.approx(0.2)
    assert contribution(0.95, 0.90) == 1.0
    assert contribution(1.0, 0.9) == 0.0
    assert contribution(None, 0.9) is None
