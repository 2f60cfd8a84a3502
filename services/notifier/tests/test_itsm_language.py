"""ServiceNow incidents and Jira requests are written in the subscription's language, like e-mail and chat."""

from __future__ import annotations

from typing import Any

import pytest
from conftest import objective_status, wait_until
from fakes import jira, servicenow, serving

from slm_shared.contracts import EVENTS

BREACHED = "slm.measurement.objective.breached.v1"
# the first words of the breach subject in each language (templates/<language>/objective.breached.txt)
SUBJECTS = {"en": "Breach: ", "pt": "Violação: ", "es": "Incumplimiento: ", "pl": "Naruszenie: ", "ru": "Нарушение: "}


@pytest.mark.parametrize("language", ["pt", "ru"])
async def test_a_breach_opens_an_incident_and_a_request_in_the_subscriptions_language(
    make_client: Any, publish: Any, tenant: str, language: str
) -> None:
    async with serving(servicenow()) as now, serving(jira()) as desk, make_client() as client:
        for name, channel, target in (
            ("incidents", "servicenow", {"instance_url": now.url, "username": "svc", "password": "pw"}),
            ("requests", "jira", {"base_url": desk.url, "email": "ops@example.com", "api_token": "tok",
                                  "service_desk_id": "1", "request_type_id": "2"}),
        ):  # fmt: skip
            made = await client.post(
                "/v1/subscriptions",
                json={
                    "name": name, "channel": channel, "event_types": [BREACHED], "target": target,
                    "language": language,
                },
            )  # fmt: skip
            assert made.status_code == 201, made.text
        await publish(EVENTS.objective_breached.build(tenant=tenant, data=objective_status()))

        async def both() -> bool:
            return bool(now.state["incidents"]) and bool(desk.state["issues"])

        await wait_until(both, timeout=30)
    (incident,) = now.state["incidents"].values()
    (issue,) = desk.state["issues"].values()
    for subject, text in (
        (incident["short_description"], incident["description"]),
        (issue["fields"]["summary"], issue["fields"]["description"]),
    ):
        assert subject.startswith(SUBJECTS[language]), subject
        assert "payments" in text and "breach" not in text.lower(), text
