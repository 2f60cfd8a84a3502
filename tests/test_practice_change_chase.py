"""A request for change goes to the ITSM tool once and its status comes back; platform-written action titles
in the reader's language; the burn-down below zero; an overdue action chased until it is done."""

from __future__ import annotations

import io
import re
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from itsm_support import ChangeTable, Smtp
from practice_support import activated, customer, ingest, objective_of, scenario_on, service_with_offering
from pypdf import PdfReader
from test_practice_review_pack import _chromium, _in_browser

from slm_shared.auth import issue_token
from slm_shared.contracts import EVENTS
from tools.devstack import SERVICES, Stack
from tools.scenario import Scenario, wait_until

pytestmark = pytest.mark.timeout(300)
FAST = {
    "MEASUREMENT_EVALUATION_INTERVAL_SECONDS": "1",
    "NOTIFIER_RETRY_BASE_SECONDS": "0.2",
    "NOTIFIER_ESCALATION_POLL_SECONDS": "0.2",
    "NOTIFIER_CHANGE_POLL_SECONDS": "0.5",
    "AGREEMENTS_JOBS_INTERVAL_SECONDS": "1",
    "SLM_ENVIRONMENT": "test",
}


@pytest.fixture
def smtp() -> Iterator[Smtp]:
    server = Smtp().start()
    yield server
    server.stop()


@pytest.fixture
def itsm() -> Iterator[ChangeTable]:
    table = ChangeTable().start()
    yield table
    table.stop()


@pytest.fixture
def stack(tmp_path: Path, smtp: Smtp, services_tmpdir: dict[str, str]) -> Iterator[Stack]:
    env = {**FAST, **services_tmpdir, "NOTIFIER_SMTP_HOST": "127.0.0.1", "NOTIFIER_SMTP_PORT": str(smtp.port)}
    running = Stack.on_free_ports(tmp_path / "stack", extra_env=env)
    try:
        running.start_nats()
        for spec in SERVICES:
            running.start_service(spec.name, wait=False)
        for spec in SERVICES:
            running.wait_ready(spec.name, timeout=240)  # four services starting at once on a busy machine
        yield running
    finally:
        running.stop()


def _breach_action(scenario: Scenario, agreement_id: str) -> dict[str, Any]:
    def found() -> dict[str, Any] | None:
        page = scenario.call("GET", "agreements", f"/v1/agreements/{agreement_id}/actions", 200)
        return next((a for a in page["items"] if a["source"] == "breach"), None)

    return wait_until(found, timeout=90, what="the breach's action")  # type: ignore[no-any-return]


def test_a_change_is_raised_once_in_the_itsm_tool_and_its_status_comes_back_to_the_action_and_review_pack(
    stack: Stack, itsm: ChangeTable, smtp: Smtp
) -> None:
    scenario = scenario_on(stack)
    shop, gold = service_with_offering(scenario, "webshop", "Web shop", 0.999)
    northwind, token = customer(scenario, "Northwind Traders", "Ana Silva")
    sla = activated(scenario, "SLA", "Northwind web shop SLA", shop, gold, consumer=northwind, customer_token=token)
    wait_until(lambda: objective_of(scenario, sla["id"]), timeout=60, what="objectives")
    scenario.call(
        "POST", "notifier", "/v1/subscriptions", 201,
        json={"name": "changes to ServiceNow", "channel": "servicenow", "event_types": [EVENTS.change_requested.type],
              "target": {"instance_url": itsm.url, "username": "svc", "password": "pw"}},
    )  # fmt: skip
    scenario.call(
        "POST", "notifier", "/v1/subscriptions", 201,
        json={"name": "actions, in Russian", "channel": "email", "language": "ru",
              "event_types": [EVENTS.action_created.type], "target": {"to": ["desk@example.com"]}},
    )  # fmt: skip
    ingest(scenario, shop["key"], minutes=range(1, 11), good=900)
    wait_until(lambda: objective_of(scenario, sla["id"]).get("status") == "breached", timeout=90, what="a breach")

    # 3. The platform wrote the action's title: a key and parameters, shown in the reader's language with names.
    action = _breach_action(scenario, sla["id"])
    assert (action["title_key"], action["title"]) == ("action.restore_indicator", "Restore availability of Web shop")
    path = f"/v1/actions/{action['id']}"
    in_pt = scenario.call("GET", "agreements", path, 200, token=token, params={"lang": "pt"})
    assert in_pt["title"] == "Restabelecer o nível de disponibilidade do serviço Web shop"
    in_ru = scenario.http.get(
        scenario.urls["agreements"] + path, headers={"Authorization": f"Bearer {token}", "Accept-Language": "ru;q=0.9"}
    ).json()
    assert in_ru["title"] == "Восстановить показатель «доступность» услуги Web shop"
    assert shop["key"] not in in_pt["title"]

    # ... and so is its description: the objective by its name (never its id), figures written the reader's way.
    objective_id = objective_of(scenario, sla["id"])["id"]
    assert action["description_key"] == "action.breach_description"
    assert re.fullmatch(
        r"Objective Availability ≥ 99\.900%: attainment 9\d\.\d{4}% against a target of 99\.9000% "
        r"\(window \d{4}-\d\d-\d\d to \d{4}-\d\d-\d\d\)\.",
        action["description"],
    ), action["description"]
    assert in_pt["description"].startswith("Objetivo Disponibilidade ≥ 99,900%: atingimento de 9")
    assert "para uma meta de 99,9000%" in in_pt["description"]
    assert in_ru["description"].startswith("Цель Доступность ≥ 99,900\u00a0%: достижение 9")
    assert all(objective_id not in d for d in (action["description"], in_pt["description"], in_ru["description"]))
    told = wait_until(lambda: smtp.received() or None, timeout=60, what="the action's e-mail")
    (rcpts, mail), *_ = told
    text = mail.get_body(("plain",)).get_content()  # type: ignore[union-attr]
    assert rcpts == ["desk@example.com"] and "Вам назначена мера" in mail["Subject"]
    assert "Цель Доступность ≥ 99,900\u00a0%: достижение" in text and objective_id not in text

    # 1. The request for change reaches the tool once, and the tool's number and status come back.
    raised = scenario.call("POST", "agreements", f"{path}/change-request", 202, json={"priority": "high"})
    again = scenario.http.post(
        scenario.urls["agreements"] + f"{path}/change-request", json={},
        headers={"Authorization": f"Bearer {scenario.admin}"},
    )  # fmt: skip
    assert again.status_code == 409

    def status_is(wanted: str) -> dict[str, Any] | None:
        seen = scenario.call("GET", "agreements", path, 200, token=token)
        return seen if seen["change_status"] == wanted else None

    created = wait_until(lambda: status_is("new"), timeout=60, what="the change created in the tool")
    (record,) = itsm.records.values()
    assert created["change_ref"] == record["number"] == "CHG0030001"
    assert record["correlation_id"] == f"slm:change:{action['id']}" and record["priority"] == "2"
    assert record["short_description"] == "Restore availability of Web shop"
    itsm.set_state(record["sys_id"], "-2")  # the change manager schedules it
    wait_until(lambda: status_is("scheduled"), timeout=60, what="the scheduled status back from the tool")
    listed = scenario.call("GET", "agreements", f"/v1/agreements/{sla['id']}/change-requests", 200, token=token)
    assert [(c["change_request_id"], c["status"], c["change_ref"], c["system"]) for c in listed] == [
        (raised["change_request_id"], "scheduled", "CHG0030001", "servicenow")
    ]
    assert [m for m, p in itsm.requests if m == "POST"] == ["POST"]  # created once

    # The review pack shows the translated title and the change's status; the burn-down goes below zero.
    month = datetime.now(UTC).strftime("%Y-%m")
    pack = f"/v1/parties/{northwind['id']}/review-pack"

    def fetch(lang: str, fmt: str) -> bytes:
        answer = scenario.http.get(
            scenario.urls["measurement"] + pack,
            params={"period": month, "format": fmt, "lang": lang},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert answer.status_code == 200, answer.text
        return answer.content

    def pack_shows_scheduled() -> bool:
        return "agendada" in fetch("pt", "html").decode()

    wait_until(pack_shows_scheduled, timeout=60, what="the change status in the review pack")
    binary = _chromium()
    if binary is None:
        pytest.skip("no chromium binary found (tools/ensure-chromium.sh installs Debian's chromium)")
    dom = _in_browser(fetch("pt", "html").decode(), binary, "review-pack-pt-change.png")
    visible = re.sub(r"<script.*?</script>|<[^>]+>", " ", dom, flags=re.S)
    for words in ("Restabelecer o nível de disponibilidade do serviço Web shop", "Pedido de mudança", "CHG0030001",
                  "agendada", "Consumo do orçamento de erro", "Orçamento restante",
                  "Objetivo Disponibilidade ≥ 99,900%: atingimento de", "para uma meta de 99,9000%"):  # fmt: skip
        assert words in visible, words
    assert "Restore availability" not in visible and "Objective Availability" not in visible
    assert objective_id not in visible
    burn = re.search(r'<svg class="chart burn-down overspent".*?</svg>', dom, flags=re.S)
    assert burn is not None, "the burn-down does not go below zero"
    zero = float(re.search(r'class="zero" x1="[\d.]+" y1="([\d.]+)"', burn.group(0)).group(1))  # type: ignore[union-attr]
    line = re.search(r'class="series" d="([^"]+)"', burn.group(0)).group(1)  # type: ignore[union-attr]
    lowest_y = max(float(p.split(",")[1]) for p in re.findall(r"[ML]([\d.]+,[\d.]+)", line))
    assert lowest_y > zero + 50  # drawn well below the zero line, which stays in the plot
    assert re.search(r'class="tick lowest"[^>]*>-[\d.,\s]+%<', burn.group(0)), "the lowest value is not labelled"

    printed = " ".join(" ".join(p.extract_text().split()) for p in PdfReader(io.BytesIO(fetch("es", "pdf"))).pages)
    for words in ("Restablecer el nivel de disponibilidad del servicio Web shop", "Solicitud de cambio", "CHG0030001",
                  "programada", "cumplimiento de", "frente a una meta de 99,9000"):  # fmt: skip
        assert words in printed, (words, printed[:800])


def test_an_overdue_action_is_chased_past_acknowledgement_until_it_is_done(stack: Stack, smtp: Smtp) -> None:
    scenario = scenario_on(stack)
    shop, gold = service_with_offering(scenario, "bookshop", "Book shop", 0.999)
    northwind = scenario.call(
        "POST", "agreements", "/v1/parties", 201,
        json={"name": "Northwind Books", "kind": "customer", "contacts": [
            {"name": "Ana Silva", "email": "ana@example.com", "role": "service_level_manager", "escalation_level": 1},
            {"name": "Bo Chen", "email": "bo@example.com", "role": "business_owner", "escalation_level": 2}]},
    )  # fmt: skip
    token = issue_token(scenario.secret, tenant=scenario.tenant, roles=["customer"], party=northwind["id"])
    sla = activated(scenario, "SLA", "Northwind book shop SLA", shop, gold, consumer=northwind, customer_token=token)
    scenario.call(
        "POST", "notifier", "/v1/subscriptions", 201,
        json={"name": "action owners", "channel": "email", "language": "pt", "escalation_seconds": 1,
              "event_types": [EVENTS.action_overdue.type],
              "target": {"contacts": {"roles": ["service_level_manager"]}}},
    )  # fmt: skip
    yesterday = (date.today() - timedelta(days=1)).isoformat()
    action = scenario.call(
        "POST", "agreements", f"/v1/agreements/{sla['id']}/actions", 201,
        json={"title": "Add a second print server", "owner": "Ana Silva", "due_on": yesterday},
    )  # fmt: skip

    def mails(count: int) -> list[tuple[list[str], Any]]:
        arrived = wait_until(lambda: smtp.received() if len(smtp.received()) >= count else None, timeout=60,
                             what=f"{count} e-mails")  # fmt: skip
        return list(arrived)

    first = mails(1)[0]
    assert first[0] == ["ana@example.com"] and "Ação atrasada: Add a second print server" in first[1]["Subject"]
    escalated = mails(2)[1]
    assert escalated[0] == ["bo@example.com"]  # the owner's party's next level
    reminded = mails(3)[2]
    assert reminded[0] == ["bo@example.com"]  # no level above: the top level is reminded again, not given up on

    (chase,) = scenario.call("GET", "notifier", "/v1/notifications", 200)["items"]
    assert chase["action_id"] == action["id"] and chase["state"] == "open" and chase["reminders"] >= 1
    acknowledged = scenario.call("POST", "notifier", f"/v1/notifications/{chase['id']}/acknowledge", 200)
    assert acknowledged["state"] == "acknowledged"
    count = len(smtp.received())
    after_ack = mails(count + 1)[count]
    assert after_ack[0] == ["bo@example.com"]  # acknowledgement stops the climb, not the chase

    scenario.call("PATCH", "agreements", f"/v1/actions/{action['id']}", 200, json={"status": "done"})
    wait_until(
        lambda: scenario.call("GET", "notifier", f"/v1/notifications/{chase['id']}", 200)["state"] == "resolved",
        timeout=60, what="the chase ended by the action being done",
    )  # fmt: skip
    settled = len(smtp.received())
    time.sleep(3)  # three escalation intervals: nothing more is sent for a done action
    assert len(smtp.received()) <= settled + 1  # at most one reminder already queued when it was done
    assert scenario.call("GET", "notifier", f"/v1/notifications/{chase['id']}", 200, token=token)["state"] == (
        "resolved"
    )
