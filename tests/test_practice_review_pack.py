"""Review packs and reports fit to send: names, translated words, chain diagnosis, observations, PDF in Chromium."""

from __future__ import annotations

import io
import re
import shutil
import subprocess
import tempfile
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from practice_support import activated, customer, ingest, objective_of, party, scenario_on, service_with_offering
from pypdf import PdfReader

from slm_shared.testing import processes
from tools.devstack import Stack
from tools.scenario import wait_until

pytestmark = pytest.mark.timeout(300)
SCREENSHOTS = Path(tempfile.gettempdir()) / "slm-review-pack"


def _chromium() -> str | None:
    return next((p for p in (shutil.which(n) for n in ("chromium", "chromium-browser", "google-chrome")) if p), None)


def _in_browser(html: str, binary: str, name: str) -> str:
    """The DOM Chromium lays out for the page (and a screenshot of it kept for people to look at)."""
    SCREENSHOTS.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as folder:
        page = Path(folder) / "pack.html"
        page.write_text(html, encoding="utf-8")
        flags = [binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
                 f"--user-data-dir={folder}/profile"]  # fmt: skip
        _run([*flags, f"--screenshot={SCREENSHOTS / name}", "--window-size=1200,2400", page.as_uri()])
        return _run([*flags, "--dump-dom", page.as_uri()], check=True)


def _run(command: list[str], *, check: bool = False) -> str:
    """Chromium's output; registered while it runs, so an overrun of the test ends it too."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    processes.started_process(process, "chromium")
    try:
        output, _ = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        processes.stopped(process)
    if check and process.returncode:
        raise subprocess.CalledProcessError(process.returncode, command, output)
    return output


def test_the_review_pack_names_people_and_services_in_the_readers_language_as_html_and_pdf(stack: Stack) -> None:
    binary = _chromium()
    if binary is None:
        pytest.skip("no chromium binary found (tools/ensure-chromium.sh installs Debian's chromium)")
    scenario = scenario_on(stack)
    shop, shop_gold = service_with_offering(scenario, "webshop", "Web shop", 0.999)
    cardnet, cardnet_gold = service_with_offering(scenario, "cardnet", "Card network", 0.999)
    scenario.call(
        "POST", "catalog", f"/v1/services/{shop['id']}/dependencies", 201,
        json={"supporting_service_id": cardnet["id"]},
    )  # fmt: skip
    team, supplier = party(scenario, "Shop team", "internal"), party(scenario, "CardNet Ltd", "supplier")
    northwind, token = customer(scenario, "Northwind Traders", "Ana Silva")
    uc = activated(scenario, "UC", "CardNet contract", cardnet, cardnet_gold, consumer=team, provider=supplier)
    sla = activated(
        scenario, "SLA", "Northwind web shop SLA", shop, shop_gold, consumer=northwind, customer_token=token,
        observation_terms={"counts_as": "bad_time"},
    )  # fmt: skip
    for agreement in (uc, sla):
        wait_until(lambda a=agreement: objective_of(scenario, a["id"]), timeout=60, what="objectives")
    ingest(scenario, cardnet["key"], minutes=range(1, 11), good=900)
    ingest(scenario, shop["key"], minutes=range(1, 11), good=900)
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    scenario.call(
        "POST", "measurement", f"/v1/agreements/{sla['id']}/observations", 201, token=token,
        json={"summary": "Kasa nie działała", "start": (now - timedelta(minutes=8)).isoformat(),
              "end": (now - timedelta(minutes=3)).isoformat(), "impact": "high"},
    )  # fmt: skip
    wait_until(lambda: objective_of(scenario, sla["id"]).get("status") == "breached", timeout=90, what="a breach")
    month = datetime.now(UTC).strftime("%Y-%m")
    path = f"/v1/parties/{northwind['id']}/review-pack"

    def fetch(lang: str, fmt: str) -> bytes:
        response = scenario.http.get(
            scenario.urls["measurement"] + path,
            params={"period": month, "format": fmt, "lang": lang},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, response.text
        return response.content

    pack = scenario.call("GET", "measurement", path, 200, token=token, params={"period": month})
    assert pack["party_name"] == "Northwind Traders" and pack["agreed_outcomes"] == []
    report = pack["reports"][0]
    assert (report["customer_name"], report["service_name"]) == ("Northwind Traders", "Web shop")
    assert report["chain"][0]["implicated"][0]["service_name"] == "Card network"

    dom = _in_browser(fetch("pl", "html").decode(), binary, "review-pack-pl.png")
    visible = re.sub(r"<script.*?</script>|<[^>]+>", " ", dom, flags=re.S)
    for words in ("Pakiet przeglądu usług: Northwind Traders", "Podsumowanie okresu", "Web shop", "Dostępność ≥",
                  "Obserwacje klienta", "Kasa nie działała", "wysoki", "Diagnoza łańcucha", "Card network",
                  "Uzgodnione ustalenia", "Trend osiągnięcia", "Zużycie budżetu błędów", "Dzień", "Okres"):  # fmt: skip
        assert words in visible, words
    assert northwind["id"] not in visible and shop["id"] not in visible
    assert [int(n) for n in re.findall(r'data-drawn="(\d+)"', dom)] and all(
        int(n) > 0 for n in re.findall(r'data-drawn="(\d+)"', dom)
    )

    printed = fetch("ru", "pdf")
    assert printed.startswith(b"%PDF")
    text = " ".join(page.extract_text() for page in PdfReader(io.BytesIO(printed)).pages)
    flat = " ".join(text.split())
    for words in ("Пакет обзора услуг", "Northwind Traders", "Web shop", "Наблюдения клиента", "Доступность",
                  "Согласованные решения", "Диагностика цепочки"):  # fmt: skip
        assert words in flat, (words, flat[:1500])
    assert northwind["id"] not in flat
