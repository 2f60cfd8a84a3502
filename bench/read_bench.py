"""Hot reads through the real services, against a plain FastAPI + Core read and a bare JSON endpoint.

  ours   : GET /v1/objectives/{id} (measurement) and GET /v1/services (catalog), each the real app
           under uvicorn (JWT verified, tenant-scoped, paginated), started with the whole stack; the objective
           read answers a row unchanged since an earlier read with the body built for it then
           (`slm_shared.web.row_bodies`), as it does for a dashboard polling an objective between evaluations:
           the row does not change over these rounds, so this is the path of a kept body (a hit). The list
           likewise answers the page it kept under the tenant's catalogue generation, which no write changes
           over these rounds: it reads the generation (one small statement) and sends the kept page (a hit)
  ours list, built every read : the same list read on a replica of catalog started with
           CATALOG_SERVICE_PAGES=0: no page kept and no generation read, so every read reads and builds its page,
           as the first read after a write of the tenant's services does (the miss path, less its generation read)
  ours, built every read : the same objective read on a replica of measurement started with
           MEASUREMENT_OBJECTIVE_BODIES=0 (and MEASUREMENT_RUN_WORKERS=false): no body kept, so every read
           builds its body, as the first read of a changed row does (the miss path, key included)
  core   : a plain FastAPI app reading the same row (and the same page) with SQLAlchemy Core; the page's
           query string (LIST_QUERY) is validated by FastAPI and applied there as the catalogue applies it;
           its routes declare response models (ObjectiveOut, Page[ServiceOut]) and its pool keeps one
           connection per connection of the load generator (bench/benchlib/plain_apps.py)
  bare   : a FastAPI endpoint returning a constant JSON body of ~80 bytes: issue #15's "bare FastAPI JSON
           endpoint", the baseline of the objective read and of the list's goal line
  bare same bytes : a FastAPI endpoint answering with the very bytes of the page the list answers with
           (read once at startup, sent as they are); a page of 20 services is several KB, which the
           constant body is not, and sending those bytes costs every server the same. The list is
           printed against both, each ratio labelled with its baseline, all from the same rounds
  304    : (a separate line, not in the ratios above) the objective read sent with the If-None-Match of its
           ETag, answered 304 with no body after the same token check and read

The list is read with a paged, filtered query, LIST_QUERY (the second page of the business services of
one owner team, among services of both types and two teams): ours validates it and binds its filters,
and so does the Core baseline, with the same meaning (tenant, type, owner team compared without case,
ordered by key, limit and offset, the total of the matching services). The output names the query.

Every server here, ours and the baselines, is uvicorn with the event loop and HTTP protocol the services serve
with (`slm_shared.cli`), so a ratio compares apps, not servers.

Rounds are interleaved; each prints requests/s, p99, the server process's CPU time per request and its busy
share (CPU time over wall time), min / median / max, and the ratios round by round: of requests per second
(the goal's) and of CPU per request, which moves far less with what else the machine runs meanwhile.
Each also prints what tells a slower machine from slower code: the CPU the rest of the machine spent over the round
(in cores), the share the hypervisor stole, and a speed probe (a fixed loop's CPU time before the round, run on
the load generator's own core: a heuristic for how fast the machine's CPUs are then, not the server's own).
The loaded variant repeats the objective read while ingest batches are posted and the
evaluator runs, twice: co-located (the process answering the reads also ingests and evaluates, as
with MEASUREMENT_RUN_WORKERS=true) and split (reads and ingest on an API process with
MEASUREMENT_RUN_WORKERS=false, evaluation in another process, as deploy/k8s runs it).
Goal: ours >= 1.5x core and >= 0.3x bare; p99 < 100 ms under load.

Run: .venv/bin/python bench/read_bench.py [--database sqlite|postgresql|both] [--requests 300] [--rounds 3]
     [--list-only]   (the service list and its three baselines only: no objective read, no loaded rounds)
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import tempfile
import time
from datetime import UTC, datetime

import httpx
from benchlib.loadgen import MachineTime, Result, hammer
from benchlib.objectives import OBJECTIVE, objective_rows
from benchlib.stack import databases, running_stack, token, uvicorn_process
from benchlib.stats import line, ratios
from sqlalchemy import insert
from sqlalchemy.ext.asyncio import create_async_engine

from slm_measurement.models import Objective
from slm_shared.cli import SERVER_HTTP, SERVER_LOOP

MISSES = "ours, built every read"  # the objective read on a replica keeping no body
LIST_MISSES = "ours list, built every read"  # the list read on a replica keeping no page
SEEDED_SERVICES = 60
# The page the list rounds read, on ours and on the Core baseline: 30 of the 60 services match, 20 are answered.
LIST_QUERY = "type=business&owner=Bench&sort=key&limit=20&offset=10"


# What the Core baseline does not do that ours must (so it is never handicapped, but it is lighter per request),
# and what it does by default that ours avoids; printed with every run.
BASELINE_SKIPS = (
    "  (core reads with no token: no JWT verified, no role or customer party checked, the tenant a fixed default,\n"
    "   no ETag computed, no metrics, body-limit or trace-context middleware; ours does all of these on every read.\n"
    "   core runs SQLAlchemy's default per read on PostgreSQL: BEGIN, the SELECT, ROLLBACK on return to its pool;\n"
    "   ours answers an objective row unchanged since an earlier read with the body it built then, core builds every\n"
    '   body: the objective read here reads one row, unchanged over these rounds, so "ours GET" is the kept-body\n'
    '   path (a hit); "ours, built every read" is a replica keeping no body (MEASUREMENT_OBJECTIVE_BODIES=0, no\n'
    "   workers): every read builds its body, the miss path)"
)


async def seed_objective(database_url: str) -> None:
    """One evaluated objective row in measurement's database (as activation would leave it)."""
    engine = create_async_engine(database_url)
    now = datetime.now(UTC)
    async with engine.begin() as connection:
        await connection.execute(
            insert(Objective.__table__),  # type: ignore[attr-defined]
            objective_rows(now),
        )
    await engine.dispose()


def seed_services(catalog_url: str, admin: str) -> None:
    """SEEDED_SERVICES services in the catalogue, through its API: half business, half technical, two teams."""
    with httpx.Client(base_url=catalog_url, headers={"Authorization": f"Bearer {admin}"}) as client:
        for n in range(SEEDED_SERVICES):
            kind, team = ("business", "bench") if n % 2 == 0 else ("technical", "ops")
            body = {"key": f"service-{n:02d}", "name": f"Service {n}", "type": kind, "owner_team": team}
            response = client.post("/v1/services", json=body)
            assert response.status_code == 201, response.text


async def ingest_load(measurement_port: int, ingest: str, stop: asyncio.Event) -> int:
    """Post columnar batches of 2,000 points, one after another, until stopped; returns points stored."""
    stored = 0
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{measurement_port}", timeout=60) as client:
        while not stop.is_set():
            now = time.time()
            series = [
                {
                    "service": f"service-{s}",
                    "indicator": "availability",
                    "timestamps": [now - i * 0.05 for i in range(100)],
                    "good": [99 if i % 50 else 0 for i in range(100)],
                    "total": [100] * 100,
                }
                for s in range(20)
            ]
            try:
                response = await client.post(
                    "/v1/measurements",
                    content=json.dumps({"series": series}),
                    headers={"Authorization": f"Bearer {ingest}"},
                )
            except httpx.HTTPError as exc:  # reported, not fatal: the reads are what is measured
                print(f"  (an ingest batch failed: {exc!r})")
                await asyncio.sleep(0.5)
                continue
            if response.status_code < 300:
                stored += 2000
    return stored


Target = tuple[int, int, str, dict[str, str]]  # port, server process id, path, headers


async def rounds(targets: dict[str, Target], *, count: int, repeat: int) -> dict[str, list[Result]]:
    """Interleave the targets round by round."""
    results: dict[str, list[Result]] = {name: [] for name in targets}
    for port, _, path, headers in targets.values():
        await hammer(port, path, requests=100, headers=headers)  # warm-up
    for _ in range(repeat):
        for name, (port, pid, path, headers) in targets.items():
            result = await hammer(port, path, requests=count, headers=headers, pid=pid)
            if result.failures:
                raise SystemExit(f"{name}: {result.failures} requests failed")
            if not result.cpu_seconds:
                raise SystemExit(f"{name}: no CPU time read for its server process over a round")
            results[name].append(result)
    return results


def report(results: dict[str, list[Result]], includes: dict[str, str] | None = None) -> None:
    """Each series' figures. `includes` names the series whose server process does other work meanwhile (what,
    e.g. ingest): their CPU is the whole process's, divided by the reads, not the reads' own."""
    for name, series in results.items():
        print(line(f"{name} req/s", [r.rate for r in series], "req/s"))
        print(line(f"{name} p99", [r.p99 * 1000 for r in series], "ms", "{:,.1f}"))
        cpu = [cpu_ms_per_request(r) for r in series]
        other = (includes or {}).get(name)
        label = f"process CPU per read (includes {other})" if other else "CPU/request"
        print(line(f"{name} {label}", cpu, "ms", "{:,.3f}") + "   rounds: " + " ".join(f"{c:.3f}" for c in cpu))
        # The process's CPU time, all its threads, over wall time (may pass 100%): a round whose rate fell while
        # this stayed low waited (for a core the machine gave to something else, or for the database), it did not
        # work more
        busy = [cpu_seconds(r) * r.rate / len(r.latencies) * 100 for r in series]
        label = "busy (process CPU / wall, all threads)"
        print(line(f"{name} {label}", busy, "%") + "   rounds: " + " ".join(f"{b:.0f}" for b in busy))
        # What tells a slower machine from slower code, round by round: the CPU the rest of the machine spent
        # meanwhile (the load generator, PostgreSQL, anything else), time the hypervisor gave this machine's vCPUs
        # to others, and the speed probe (a fixed loop's CPU time just before the round): the same code's CPU per
        # request rises with the probe when the CPU itself is slower (a neighbour on the host sharing its cache)
        others = [(machine(r).busy - cpu_seconds(r)) * r.rate / len(r.latencies) for r in series]
        print(line(f"{name} rest of the machine's CPU", others, "cores", "{:.2f}"))
        steal = [machine(r).steal * r.rate / len(r.latencies) / (os.cpu_count() or 1) * 100 for r in series]
        print(line(f"{name} stolen by the hypervisor", steal, "%", "{:.1f}"))
        probes = [probe_ms(r) for r in series]
        print(
            line(f"{name} speed probe (load generator's core) before the round", probes, "ms", "{:.1f}")
            + "   rounds: "
            + " ".join(f"{p:.1f}" for p in probes)
        )


def cpu_seconds(result: Result) -> float:
    """The round's server CPU time, read for every round here (a round with none read stops the bench)."""
    assert result.cpu_seconds is not None
    return result.cpu_seconds


def machine(result: Result) -> MachineTime:
    """The machine's CPU time over the round, read for every round whose server CPU is read."""
    assert result.machine is not None
    return result.machine


def probe_ms(result: Result) -> float:
    """The speed probe's CPU time before the round, taken for every round whose server CPU is read."""
    assert result.probe_ms is not None
    return result.probe_ms


def cpu_ms_per_request(result: Result) -> float:
    return cpu_seconds(result) * 1000 / len(result.latencies)


def report_ratio(label: str, ours: list[Result], baseline: list[Result], *, cpu: bool = True) -> None:
    """The ratio of requests per second, and (with `cpu`) of the CPU each server process spent per request
    (baseline / ours): the first is the goal's; the second moves far less with what else the machine runs
    during a round, and means nothing where one process also does other work."""
    found = ratios([r.rate for r in ours], [r.rate for r in baseline])
    print(line(label, found, "x", "{:.2f}") + "   rounds: " + " ".join(f"{r:.2f}" for r in found))
    if cpu:
        spent = [cpu_ms_per_request(b) / cpu_ms_per_request(o) for o, b in zip(ours, baseline, strict=True)]
        print(
            line("  its CPU per request, baseline / ours", spent, "x", "{:.2f}")
            + "   rounds: "
            + " ".join(f"{r:.2f}" for r in spent)
        )
        # each round's CPU per request over its speed probe: the ratio as if both rounds ran on a CPU as fast
        at_speed = [
            cpu_ms_per_request(b) / probe_ms(b) / (cpu_ms_per_request(o) / probe_ms(o))
            for o, b in zip(ours, baseline, strict=True)
        ]
        print(
            line("  the same, each over its speed probe", at_speed, "x", "{:.2f}")
            + "   rounds: "
            + " ".join(f"{r:.2f}" for r in at_speed)
        )


async def conditional_read(port: int, path: str, auth: dict[str, str], args: argparse.Namespace) -> None:
    """The same read answered 304 (the client holds the current ETag): what a polling client costs. Kept out
    of the ratios above, which compare full answers. The periodic evaluation pass may store a new version of
    the objective meanwhile (a new ETag, rightly a 200): such a round is taken again with the new ETag, at
    most three times."""

    async def current_etag() -> dict[str, str]:
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            return {**auth, "If-None-Match": (await client.get(path, headers=auth)).headers["ETag"]}

    headers = await current_etag()
    await hammer(port, path, requests=100, headers=headers, expect=304)  # warm-up
    found, retakes = [], 0
    while len(found) < args.rounds:
        result = await hammer(port, path, requests=args.requests, headers=headers, expect=304)
        if not result.failures:
            found.append(result)
            continue
        retakes += 1
        if retakes > 3:
            raise SystemExit("conditional read: answers other than 304 in four rounds, with a fresh ETag each")
        headers = await current_etag()
    print(line("ours objective, If-None-Match -> 304 req/s", [r.rate for r in found], "req/s"))
    if retakes:
        print(f"  ({retakes} round(s) taken again: the objective had a new version, so a new ETag)")


async def bench(database: str, args: argparse.Namespace) -> None:
    with running_stack(database) as (stack, urls):
        admin, ingest = token("admin"), token("ingest")
        await seed_objective(urls["measurement"])
        seed_services(stack.url("catalog"), admin)
        auth = {"Authorization": f"Bearer {admin}"}
        measurement, catalog = stack.ports["measurement"], stack.ports["catalog"]
        measurement_pid, catalog_pid = stack.processes["measurement"].pid, stack.processes["catalog"].pid
        async with httpx.AsyncClient(base_url=stack.url("catalog"), headers=auth) as client:
            response = await client.get(f"/v1/services?{LIST_QUERY}")
            page = response.content
            assert response.status_code == 200 and len(response.json()["items"]) == 20, response.text
            ours_page = response.json()
        body_file = tempfile.NamedTemporaryFile(prefix="bench-page-", suffix=".json")  # noqa: SIM115
        body_file.write(page)
        body_file.flush()
        with (
            body_file,
            uvicorn_process("benchlib.plain_apps:bare") as bare,
            uvicorn_process("benchlib.plain_apps:bare_page", BENCH_BARE_BODY=body_file.name) as bare_page,
            uvicorn_process("benchlib.plain_apps:core", BENCH_DATABASE_URL=urls["measurement"]) as core_m,
            uvicorn_process("benchlib.plain_apps:core", BENCH_DATABASE_URL=urls["catalog"]) as core_c,
        ):
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{core_c.port}") as client:
                core_page = (await client.get(f"/services?{LIST_QUERY}")).json()
            # the same query means the same page on both: same services, same order, same total
            assert [i["key"] for i in ours_page["items"]] == [i["key"] for i in core_page["items"]], core_page
            assert ours_page["total"] == core_page["total"] == SEEDED_SERVICES // 2, core_page
            async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{core_m.port}") as client:
                core_row = (await client.get(f"/objectives/{OBJECTIVE}")).json()
            # the Core app answers the row through its response model, every column of the table
            assert set(core_row) == set(Objective.__table__.columns.keys()), core_row
            targets = {
                "ours GET /v1/objectives/{id}": (measurement, measurement_pid, f"/v1/objectives/{OBJECTIVE}", auth),
                "core same row": (*core_m, f"/objectives/{OBJECTIVE}", {}),
                "ours GET /v1/services?query": (catalog, catalog_pid, f"/v1/services?{LIST_QUERY}", auth),
                "core same page, same query": (*core_c, f"/services?{LIST_QUERY}", {}),
                "bare JSON": (*bare, f"/objectives/{OBJECTIVE}", {}),
                "bare same bytes as the page": (*bare_page, "/services", {}),
            }
            names = list(targets)
            building = stack.start_replica("catalog", env={"CATALOG_SERVICE_PAGES": "0"})
            targets[LIST_MISSES] = (
                stack.ports[building],
                stack.processes[building].pid,
                f"/v1/services?{LIST_QUERY}",
                auth,
            )
            if args.list_only:
                del targets[names[0]], targets[names[1]]
            else:
                uncached = stack.start_replica(
                    "measurement", env={"MEASUREMENT_OBJECTIVE_BODIES": "0", "MEASUREMENT_RUN_WORKERS": "false"}
                )
                targets[MISSES] = (
                    stack.ports[uncached],
                    stack.processes[uncached].pid,
                    f"/v1/objectives/{OBJECTIVE}",
                    auth,
                )
            results = await rounds(targets, count=args.requests, repeat=args.rounds)
            print(f"\n{database}: concurrency 16, {args.requests} requests per round, {args.rounds} rounds")
            load = ", ".join(f"{value:.2f}" for value in os.getloadavg())
            print(f"  (machine: {os.cpu_count()} CPUs, load average {load} after the rounds)")
            print(
                f"  (the service list is read with ?{LIST_QUERY}, on ours and on core; its page is {len(page):,} bytes)"
            )
            print(f"  (every server here, ours and the baselines: uvicorn, loop={SERVER_LOOP}, http={SERVER_HTTP})")
            print(BASELINE_SKIPS)
            report(results)
            if not args.list_only:
                report_ratio("objective / core (goal >= 1.5)", results[names[0]], results[names[1]])
                report_ratio("objective built every read / core", results[MISSES], results[names[1]])
                report_ratio("objective kept / built every read", results[names[0]], results[MISSES])
                report_ratio("objective / bare constant (#15 goal >= 0.3)", results[names[0]], results[names[4]])
            report_ratio("services / core (goal >= 1.5)", results[names[2]], results[names[3]])
            # Issue #15's goal is against "a bare FastAPI JSON endpoint": the constant-body one. The same-bytes
            # one answers the page's own bytes. Both ran in these same interleaved rounds.
            print(
                f"  the list vs bare, two baselines: constant = ~80-byte body; same bytes = the {len(page):,}-byte page"
            )
            report_ratio("services / bare constant (#15 goal >= 0.3)", results[names[2]], results[names[4]])
            report_ratio("services / bare same bytes (same goal)", results[names[2]], results[names[5]])
            report_ratio("services built every read / core", results[LIST_MISSES], results[names[3]])
            report_ratio("services built every read / bare same bytes", results[LIST_MISSES], results[names[5]])
            report_ratio("services kept / built every read", results[names[2]], results[LIST_MISSES])
            if args.list_only:
                return
            await conditional_read(measurement, f"/v1/objectives/{OBJECTIVE}", auth, args)

            # Co-located: the process serving the reads also takes the ingest batches and runs the
            # evaluator (MEASUREMENT_RUN_WORKERS=true, one process per pod). Split: the reads and the
            # ingest go to an API process with MEASUREMENT_RUN_WORKERS=false while the first process
            # evaluates (what deploy/k8s runs: API pods and worker pods).
            replica = stack.start_replica("measurement", env={"MEASUREMENT_RUN_WORKERS": "false"})
            api_only = (stack.ports[replica], stack.processes[replica].pid)
            for mode, (port, pid) in (("co-located", (measurement, measurement_pid)), ("split", api_only)):
                loaded_targets = {
                    names[0]: (port, pid, f"/v1/objectives/{OBJECTIVE}", auth),
                    names[1]: targets[names[1]],
                }
                stop = asyncio.Event()
                loader = asyncio.create_task(ingest_load(port, ingest, stop))
                try:
                    loaded = await rounds(loaded_targets, count=args.requests, repeat=args.rounds)
                finally:
                    stop.set()
                    stored = await loader
                print(f"while ingest runs ({stored:,} points stored) and the evaluator works, {mode}:")
                busy_with = "ingest and evaluation" if mode == "co-located" else "ingest"
                report(loaded, includes={names[0]: busy_with})
                # ours also ingests (and, co-located, evaluates): a ratio of CPU per read would mean nothing
                report_ratio(f"objective / core under load, {mode}", loaded[names[0]], loaded[names[1]], cpu=False)


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--requests", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument(
        "--list-only",
        action="store_true",
        help="only the service list against its baselines (no objective read, no load)",
    )
    args = parser.parse_args()
    for database in databases(args.database):
        await bench(database, args)


if __name__ == "__main__":
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(main())
