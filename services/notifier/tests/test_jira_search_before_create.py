"""Jira is searched for an action's change issue before one is created: a search or create answer of the wrong
shape is a recorded failure that is retried, and a create whose answer was lost is not sent again while Jira's
search does not show the issue yet."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from conftest import wait_until
from fakes import serving
from jira_support import _jira_subscription, _only_delivery, _requested, _told, jira_issues

from slm_notifier.itsm import jira_changes
from slm_shared.contracts import EVENTS


async def test_a_search_answer_that_is_no_object_is_a_recorded_failure_retried_with_backoff(
    make_client: Any, publish: Any, tenant: str
) -> None:
    async with serving(jira_issues()) as fake, make_client() as client:
        await _jira_subscription(client, fake)
        fake.state["search_answers"] = [[], "x", {"issues": "none"}]
        await publish(EVENTS.change_requested.build(tenant=tenant, data=_requested("act-3")))

        delivery = await _only_delivery(client, "succeeded", "dead", "failed")
        attempts = delivery["attempts"]
        assert [a["succeeded"] for a in attempts] == [False, False, False, True], attempts
        assert all("Jira's search answered HTTP 200 with" in a["error"] for a in attempts[:3])
        assert "[]" in attempts[0]["error"] and '"x"' in attempts[1]["error"]
        assert all(a["next_attempt_at"] is not None for a in attempts[:3])  # retried, not given up
        (issue,) = fake.state["issues"].values()  # the fourth attempt found none and created it, once
        assert issue["fields"]["labels"] == ["slm-change-act-3"]


async def test_a_create_answer_of_the_wrong_shape_fails_and_the_retry_finds_the_issue_by_its_label(
    make_client: Any, publish: Any, tenant: str
) -> None:
    async with serving(jira_issues()) as fake, make_client() as client:
        await _jira_subscription(client, fake)
        fake.state["create_answers"] = [{"created": True}]  # Jira created it, but the answer names no issue
        await publish(EVENTS.change_requested.build(tenant=tenant, data=_requested("act-4")))

        delivery = await _only_delivery(client, "succeeded", "dead", "failed")
        attempts = delivery["attempts"]
        assert [a["succeeded"] for a in attempts] == [False, True], attempts
        assert "Jira's create answered HTTP 200 with" in attempts[0]["error"]
        assert "id and key" in attempts[0]["error"]
        assert [r.path for r in fake.requests if r.method == "POST"] == ["/rest/api/2/issue"]  # created once

        async def told() -> bool:
            return [(e["status"], e["external_ref"]) for e in await _told(client)] == [("new", "CHG-1")]

        await wait_until(told, timeout=20)


async def test_a_create_whose_answer_is_lost_is_not_sent_again_before_jira_search_can_show_it(
    make_client: Any, publish: Any, tenant: str, monkeypatch: Any
) -> None:
    # Margins for a loaded machine: the retry (due ~1 s after the create) may come up to 4 s late and still
    # land inside the lag, and the lag ends well inside the settle, after which the search shows the issue.
    monkeypatch.setattr(jira_changes, "SEARCH_SETTLE", timedelta(seconds=8))
    async with serving(jira_issues()) as fake, make_client(attempt_timeout_seconds=1.0, max_attempts=10) as client:
        await _jira_subscription(client, fake)
        fake.state["index_lag"] = 5.0  # the issue shows in searches 5 s after it is created
        fake.state["create_delay"] = 2.0  # and the create's answer comes after the attempt gave up (1 s)
        await publish(EVENTS.change_requested.build(tenant=tenant, data=_requested("act-5")))

        delivery = await _only_delivery(client, "succeeded", "dead", "failed")
        attempts = delivery["attempts"]
        assert [a["succeeded"] for a in attempts][-1] is True, attempts
        assert "no response within 1s" in attempts[0]["error"]
        # Between the lost create and the success, each attempt found no issue yet and sent no create; on a loaded
        # machine one of them may itself outlast the 1 s attempt (its search unanswered in time).
        between = [a["error"] for a in attempts[1:-1] if "no response within 1s" not in a["error"]]
        assert between, attempts
        assert all("its answer was lost; Jira's search does not show it yet" in error for error in between), attempts
        assert [r.path for r in fake.requests if r.method == "POST"] == ["/rest/api/2/issue"]  # no duplicate
        assert len(fake.state["issues"]) == 1

        async def told() -> bool:
            return [(e["status"], e["external_ref"]) for e in await _told(client)] == [("new", "CHG-1")]

        await wait_until(told, timeout=20)
