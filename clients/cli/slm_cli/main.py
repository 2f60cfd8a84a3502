"""`slm`: the platform from a terminal (apply, delete, get, export, ingest, report, token)."""

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
from slm_cli import openslo_delete as removal
from slm_cli import openslo_sources as sources
from slm_cli import openslo_targets as targets
from slm_shared.auth.principal import ROLES, issue_token
from slm_shared.settings import DEVELOPMENT_JWT_SECRET

app = typer.Typer(help="Service level management from the command line.", no_args_is_help=True)
out = Console()
err = Console(stderr=True)
OPENSLO_PREFIX = "openslo/"
WAIT_SECONDS = 60.0
CREDENTIAL_WAIT = 5.0


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
    if openslo:
        flat = [d for item in documents for d in (item if isinstance(item, list) else [item])]
        before_series, before_subscriptions = _held_series(), _subscription_names()
        before_sources = _source_names()
    with _client("catalog") as client:
        response = _checked(client.post(path, content=text.encode(), headers={"Content-Type": "application/yaml"}))
    summary = response.json()
    if openslo:
        published = response.status_code == 201  # the catalogue told measurement and the notifier
        summary.update(_pulled_from_prometheus(flat, before_series, before_sources, wait=published))
        summary.update(_subscribed_notification_targets(flat, before_subscriptions, wait=published))
    sys.stdout.write(json.dumps(summary, indent=2) + "\n")


@app.command()
def delete(
    file: Annotated[Path, typer.Option("-f", "--file", exists=True, dir_okay=False, help="OpenSLO YAML or JSON")],
    ignore_not_found: Annotated[bool, typer.Option(help="a document never applied is no failure")] = False,
) -> None:
    """Delete the OpenSLO documents in FILE from the catalogue: their pulled series stop and their subscriptions are
    disabled (measured data and the catalogue's services and offerings stay). A document another one still names is
    deleted after it, when FILE has both; otherwise it is refused (409) and kept."""
    try:
        wanted = removal.named_documents(file.read_text(encoding="utf-8"))
    except ValueError as exc:
        err.print(f"[red]{file}[/red] {exc}")
        raise typer.Exit(1) from None
    with _client("catalog") as client:
        outcome = removal.delete_all(client, wanted, fail=_fail)
    sys.stdout.write(json.dumps(outcome.summary(), indent=2) + "\n")
    for label, reason in outcome.refused.items():
        err.print(f"{label} not deleted: {reason}")
    if outcome.refused or (outcome.not_found and not ignore_not_found):
        raise typer.Exit(1)


def _source_names() -> set[str]:
    with _client("measurement") as client:
        return {s["name"] for s in _page_all(client, "/v1/datasources")}


def _held_series() -> dict[tuple[str, str], dict[str, Any]]:
    """Measurement's pulled series by (service, indicator), each with its data source's name."""
    with _client("measurement") as client:
        names = {s["id"]: s["name"] for s in _page_all(client, "/v1/datasources")}
        return {
            (s["service_key"], s["indicator"]): {**s, "data_source": names.get(s["data_source_id"])}
            for s in _page_all(client, "/v1/pulled-series")
        }


def _until(check: Any, *, wait: bool, seconds: float = WAIT_SECONDS) -> Any:
    """Ask `check` until it answers something true or, when the platform may still be catching up, time is up."""
    deadline = time.monotonic() + (seconds if wait else 0)
    found = check()
    while not found and time.monotonic() < deadline:
        time.sleep(0.5)
        found = check()
    return found


def _pulled_from_prometheus(
    documents: list[dict[str, Any]],
    before: dict[tuple[str, str], dict[str, Any]],
    known_sources: set[str],
    *,
    wait: bool,
) -> dict[str, int]:
    """What measurement pulls for the documents' PromQL SLIs once it has their event: new and changed series."""
    wanted = sources.pulled_series(documents)
    counts = {
        "data_sources": len({s["name"] for s in sources.data_sources(documents)} - known_sources),
        "pulled_series": sum((w["service"], w["indicator"]) not in before for w in wanted),
        "updated_series": sum(
            (w["service"], w["indicator"]) in before and sources.differs(before[(w["service"], w["indicator"])], w)
            for w in wanted
        ),
    }
    if not wanted:
        return counts

    def behind() -> list[str]:
        held = _held_series()
        return [
            f"{w['service']}/{w['indicator']}"
            for w in wanted
            if (w["service"], w["indicator"]) not in held or sources.differs(held[(w["service"], w["indicator"])], w)
        ]

    _until(lambda: not behind(), wait=wait)
    for name in behind():
        err.print(f"measurement does not pull {name} as the documents say yet")
    return counts


def _subscription_names() -> dict[str, dict[str, Any]]:
    with _client("notifier") as client:
        return {s["name"]: s for s in _page_all(client, "/v1/subscriptions")}


def _subscribed_notification_targets(
    documents: list[dict[str, Any]], before: dict[str, dict[str, Any]], *, wait: bool
) -> dict[str, Any]:
    """The notifier's subscriptions for the documents' AlertNotificationTargets, with credentials held here."""
    wanted, skipped = targets.notification_targets(documents)
    plain = {w["name"] for w in wanted if w["secret_env"] is None}
    if plain:  # the notifier has the event once the targets without a credential are subscribed
        _until(lambda: plain <= set(_subscription_names()), wait=wait)
    elif wanted and wait:  # nothing tells when the notifier has the event: give it a moment
        _until(lambda: {w["name"] for w in wanted} <= set(_subscription_names()), wait=True, seconds=CREDENTIAL_WAIT)
    held = _subscription_names()
    with _client("notifier") as client:
        for subscription in (w for w in wanted if w["secret_env"] is not None):
            complete = targets.with_credential(subscription)
            if complete is None:
                if subscription["name"] not in held:
                    skipped[subscription["name"].split(":")[1]] = (
                        f"the variable {subscription['secret_env']} is set neither for the notifier nor here"
                    )
                continue
            body = {
                "event_types": [targets.BURN_ALERT],
                "target": complete,
                "filters": {"service_key": subscription["service_key"]},
            }
            if subscription["name"] in held:
                current = held[subscription["name"]]
                if current["channel"] == subscription["channel"]:
                    _checked(client.patch(f"/v1/subscriptions/{current['id']}", json=body))
                    continue
                _checked(client.delete(f"/v1/subscriptions/{current['id']}"))
            body |= {"name": subscription["name"], "channel": subscription["channel"]}
            _checked(client.post("/v1/subscriptions", json=body))
    for name, reason in skipped.items():
        err.print(f"notification target {name} not subscribed: {reason}")
    created = set(_subscription_names()) - set(before)
    return {
        "subscriptions": len(created & {w["name"] for w in wanted}),
        "notification_targets_not_subscribed": sorted(skipped),
    }


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
