"""`slm`: the platform from a terminal (apply, get, export, ingest, report, token)."""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path
from typing import Annotated, Any, Literal

import httpx
import typer
import yaml
from rich.console import Console
from rich.progress import BarColumn, DownloadColumn, Progress, TextColumn, TimeRemainingColumn
from rich.table import Table

from slm_cli import config as cli_config
from slm_cli import ingest as reader
from slm_cli import openslo_sources as sources
from slm_cli import openslo_targets as targets
from slm_shared.auth.principal import ROLES, issue_token
from slm_shared.settings import DEVELOPMENT_JWT_SECRET

app = typer.Typer(help="Service level management from the command line.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)
OPENSLO_PREFIX = "openslo/"


class State:
    config: cli_config.Config


state = State()


@app.callback()
def main(
    config_file: Annotated[
        Path | None, typer.Option("--config", help="TOML file with a urls table and a token")
    ] = None,
    token: Annotated[str | None, typer.Option(help="bearer token (else SLM_TOKEN, else the config file)")] = None,
    catalog_url: Annotated[str | None, typer.Option(help="else SLM_CATALOG_URL")] = None,
    agreements_url: Annotated[str | None, typer.Option(help="else SLM_AGREEMENTS_URL")] = None,
    measurement_url: Annotated[str | None, typer.Option(help="else SLM_MEASUREMENT_URL")] = None,
    notifier_url: Annotated[str | None, typer.Option(help="else SLM_NOTIFIER_URL")] = None,
) -> None:
    urls = {
        "catalog": catalog_url,
        "agreements": agreements_url,
        "measurement": measurement_url,
        "notifier": notifier_url,
    }
    state.config = cli_config.load(config_file=config_file, token=token, urls=urls)


def _client(service: str) -> httpx.Client:
    headers = {"Authorization": f"Bearer {state.config.token}"} if state.config.token else {}
    return httpx.Client(base_url=state.config.urls[service], headers=headers, timeout=60)


def _fail(response: httpx.Response) -> None:
    """Print the problem document (detail and each field) and exit non-zero."""
    try:
        problem = response.json()
    except ValueError:
        problem = {"detail": response.text}
    err.print(f"[red]{response.status_code}[/red] {problem.get('detail') or problem.get('title') or ''}")
    for error in problem.get("errors") or []:
        err.print(f"  {error.get('field')}: {error.get('message')}")
    raise typer.Exit(1)


def _checked(response: httpx.Response) -> httpx.Response:
    if response.status_code >= 400:
        _fail(response)
    return response


@app.command()
def apply(
    file: Annotated[Path, typer.Option("-f", "--file", exists=True, dir_okay=False, help="YAML or JSON")],
) -> None:
    """Apply OpenSLO documents or a catalogue document: all of it or, when anything is refused, none."""
    text = file.read_text(encoding="utf-8")
    documents = [d for d in yaml.safe_load_all(text) if d is not None]
    openslo = any(
        isinstance(d, dict) and str(d.get("apiVersion", "")).startswith(OPENSLO_PREFIX)
        for d in (documents[0] if documents and isinstance(documents[0], list) else documents)
    )
    path = "/v1/openslo" if openslo else "/v1/import"
    with _client("catalog") as client:
        response = _checked(client.post(path, content=text.encode(), headers={"Content-Type": "application/yaml"}))
    summary = response.json()
    if openslo:
        flat = [d for item in documents for d in (item if isinstance(item, list) else [item])]
        summary.update(_pull_from_prometheus(flat))
        summary.update(_subscribe_notification_targets(flat))
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")


def _pull_from_prometheus(documents: list[dict[str, Any]]) -> dict[str, int]:
    """Register the prometheus DataSources and the PromQL SLIs with measurement; a changed SLI changes its series."""
    created = {"data_sources": 0, "pulled_series": 0, "updated_series": 0}
    with _client("measurement") as client:
        held: dict[tuple[str, str], dict[str, Any]] | None = None
        for source in sources.data_sources(documents):
            answer = client.post("/v1/datasources", json=source)
            if answer.status_code != 409:
                _checked(answer)
                created["data_sources"] += 1
        for series in sources.pulled_series(documents):
            answer = client.post("/v1/pulled-series", json=series)
            deadline = time.monotonic() + 60
            while answer.status_code == 422 and "catalogue has no" in answer.text and time.monotonic() < deadline:
                time.sleep(0.5)  # measurement learns the new services and indicators from the catalogue's events
                answer = client.post("/v1/pulled-series", json=series)
            if answer.status_code != 409:
                _checked(answer)
                created["pulled_series"] += 1
                continue
            if held is None:
                held = {(h["service_key"], h["indicator"]): h for h in _page_all(client, "/v1/pulled-series")}
            current = held.get((series["service"], series["indicator"]))
            if current is not None and sources.differs(current, series):
                _checked(client.put(f"/v1/pulled-series/{current['id']}", json=series))
                created["updated_series"] += 1
    return created


def _subscribe_notification_targets(documents: list[dict[str, Any]]) -> dict[str, Any]:
    """Notifier subscriptions (webhook, e-mail, PagerDuty) for the AlertNotificationTargets."""
    wanted, skipped = targets.subscriptions(documents)
    for name, reason in skipped.items():
        err.print(f"notification target {name} not subscribed: {reason}")
    created = 0
    if wanted:
        with _client("notifier") as client:
            have = {s["name"] for s in _page_all(client, "/v1/subscriptions")}
            for subscription in wanted:
                if subscription["name"] not in have:
                    _checked(client.post("/v1/subscriptions", json=subscription))
                    created += 1
    return {"subscriptions": created, "notification_targets_not_subscribed": sorted(skipped)}


def _page_all(client: httpx.Client, path: str, params: dict[str, Any] | None = None) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    offset = 0
    while True:
        page = _checked(client.get(path, params={**(params or {}), "limit": 500, "offset": offset})).json()
        items.extend(page["items"])
        offset += len(page["items"])
        if not page["items"] or offset >= page["total"]:
            return items


Kind = Literal["services", "offerings", "agreements", "objectives"]
COLUMNS: dict[str, tuple[str, str, list[str]]] = {
    "services": ("catalog", "/v1/services", ["key", "name", "type", "lifecycle", "owner_team"]),
    "offerings": ("catalog", "/v1/offerings", ["id", "service_id", "name", "version", "status", "targets"]),
    "agreements": ("agreements", "/v1/agreements", ["id", "kind", "name", "service_key", "state", "version"]),
    "objectives": (
        "measurement",
        "/v1/objectives",
        ["id", "service_key", "indicator", "target", "status", "attainment", "budget_remaining"],
    ),
}


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    if isinstance(value, list):
        return str(len(value))
    return str(value)


@app.command()
def get(
    kind: Annotated[Kind, typer.Argument(help="services, offerings, agreements or objectives")],
    output: Annotated[Literal["table", "json"], typer.Option("-o", "--output")] = "table",
) -> None:
    """List services, offerings, agreements or objectives (with status and error budget)."""
    service, path, columns = COLUMNS[kind]
    with _client(service) as client:
        items = _page_all(client, path)
    if kind == "objectives":
        for item in items:
            budget = item.get("budget") or {}
            item["budget_remaining"] = budget.get("remaining_ratio")
    if output == "json":
        sys.stdout.write(json.dumps(items, indent=2) + "\n")
        return
    table = Table(*columns, title=f"{len(items)} {kind}")
    for item in items:
        table.add_row(*(_cell(item.get(column)) for column in columns))
    out.print(table)


@app.command()
def export(
    format: Annotated[Literal["yaml", "json"], typer.Option("--format")] = "yaml",
    openslo: Annotated[bool, typer.Option("--openslo", help="the OpenSLO documents instead of the catalogue")] = False,
    output: Annotated[Path | None, typer.Option("-o", "--output", help="a file; standard output when omitted")] = None,
) -> None:
    """Export the catalogue (or its OpenSLO documents) as YAML or JSON."""
    with _client("catalog") as client:
        response = _checked(client.get("/v1/openslo" if openslo else "/v1/export", params={"format": format}))
    if output is None:
        sys.stdout.write(response.text)
    else:
        output.write_text(response.text, encoding="utf-8")


@app.command("ingest")
def ingest_file(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="points as CSV (with a header) or NDJSON")],
    format: Annotated[Literal["auto", "csv", "ndjson"], typer.Option("--format")] = "auto",
    batch_size: Annotated[int, typer.Option("--batch", min=1, max=100_000)] = 5_000,
    position: Annotated[Path | None, typer.Option(help="where the position is kept; FILE.position by default")] = None,
    restart: Annotated[bool, typer.Option(help="ignore a saved position and send the file from the start")] = False,
) -> None:
    """Send a file of points in batches with a progress bar; an interrupted run resumes where it stopped."""
    fmt = format if format != "auto" else ("csv" if file.suffix.lower() == ".csv" else "ndjson")
    state_file = position or reader.position_file(file)
    start = 0 if restart else reader.saved_position(state_file, file)
    size = file.stat().st_size
    sent = 0
    columns = (TextColumn("{task.description}"), BarColumn(), DownloadColumn(), TimeRemainingColumn())
    with _client("measurement") as client, Progress(*columns, console=err) as progress:
        task = progress.add_task(f"ingest {file.name}", total=size, completed=start)
        try:
            for batch in reader.batches(file, fmt=fmt, size=batch_size, start=start):
                response = client.post(
                    "/v1/measurements",
                    json=batch.points,
                    headers={"Idempotency-Key": batch.idempotency_key(file)},
                )
                if response.status_code >= 400:
                    progress.stop()
                    err.print(f"batch from line {batch.first_line} refused; resume with the same command")
                    _fail(response)
                sent += int(response.json().get("accepted", 0))
                reader.save_position(state_file, file, batch.end)
                progress.update(task, completed=batch.end)
        except reader.BadLine as exc:
            progress.stop()
            err.print(f"[red]{file}[/red] {exc}")
            raise typer.Exit(1) from None
    out.print(f"{sent} points accepted from {file}")


@app.command()
def report(
    agreement: Annotated[str, typer.Argument(help="agreement id")],
    period: Annotated[str | None, typer.Option(help="a month (2026-03) or a quarter (2026-Q1)")] = None,
    format: Annotated[Literal["json", "csv", "html"], typer.Option("--format")] = "json",
    lang: Annotated[str | None, typer.Option(help="en, pt, es, pl or ru")] = None,
    output: Annotated[Path | None, typer.Option("-o", "--output")] = None,
) -> None:
    """Fetch an agreement's service report for a period."""
    params = {"format": format, **({"period": period} if period else {}), **({"lang": lang} if lang else {})}
    with _client("measurement") as client:
        response = _checked(client.get(f"/v1/agreements/{agreement}/report", params=params))
    if output is None:
        sys.stdout.write(response.text)
    else:
        output.write_bytes(response.content)
        err.print(f"report written to {output}")


@app.command()
def token(
    tenant: Annotated[str, typer.Option(help="the tenant the token is for")] = "demo",
    role: Annotated[list[str], typer.Option(help="admin, manager, customer or ingest (repeatable)")] = ["admin"],  # noqa: B006
    party: Annotated[str | None, typer.Option(help="the party a customer token belongs to")] = None,
    ttl: Annotated[int, typer.Option(help="seconds the token is valid", min=1, max=30 * 86_400)] = 3600,
) -> None:
    """Issue a development token signed with SLM_JWT_SECRET (development secret when unset)."""
    unknown = sorted(set(role) - ROLES)
    if unknown:
        raise typer.BadParameter(f"unknown role {', '.join(unknown)}; one of {', '.join(sorted(ROLES))}")
    if "customer" in role and not party:
        raise typer.BadParameter("a customer token needs --party")
    secret = os.environ.get("SLM_JWT_SECRET", DEVELOPMENT_JWT_SECRET)
    sys.stdout.write(issue_token(secret, tenant=tenant, roles=role, party=party, ttl_seconds=ttl) + "\n")
