"""What the stack burns when nothing happens: CPU ms per second of each process on an idle stack.

Starts NATS and the four services (`benchlib.stack`, as the breach bench does), waits for them to settle,
then reads each process's CPU time (all its threads, from /proc/<pid>/task/*/schedstat) over a window in
which no request is made. Two baselines are read in the same window: the NATS server (it serves the
services' idle traffic) and a bare FastAPI app under uvicorn with the services' loop (`benchlib.plain_apps`,
`bare`): the floor of an idle process of this kind. On PostgreSQL the server's
processes (its background workers and one backend per pooled connection) are summed as `postgresql`.

    python bench/idle_bench.py --database both --seconds 20
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from benchlib.stack import databases, running_stack, uvicorn_process
from sqlalchemy.engine import make_url


def cpu_ns(pid: int) -> int:
    """CPU time of every thread of a process (0 once it is gone)."""
    total = 0
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return 0
    for tid in tasks:
        try:
            total += int(Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()[0])
        except (OSError, ValueError, IndexError):
            pass
    return total


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry))
    return found


def postmaster(port: int) -> int | None:
    """The PostgreSQL server listening on `port` (pg_ctl started it in a session of its own)."""
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                argv = Path(f"/proc/{entry}/cmdline").read_bytes().split(b"\0")
            except OSError:
                continue
            if argv and argv[0].endswith(b"postgres") and b"-p" in argv and str(port).encode() in argv:
                return int(entry)
    return None


def groups(stack_pids: dict[str, int], urls: dict[str, str]) -> dict[str, list[int]]:
    """The processes to read, by name: each service, NATS, and PostgreSQL's postmaster with its children."""
    named = {name: [pid] for name, pid in stack_pids.items()}
    port = make_url(next(iter(urls.values()))).port
    if port is not None and (server := postmaster(port)) is not None:
        named["postgresql"] = [server, *children(server)]
    return named


def measure(database: str, settle: float, seconds: float) -> dict[str, float]:
    with running_stack(database) as (stack, urls), uvicorn_process("benchlib.plain_apps:bare") as bare:
        assert stack.nats is not None and stack.nats.process is not None
        time.sleep(settle)  # start-up work (migrations, first scans, consumers' first pulls) is over
        named = groups(
            {
                **{k: p.pid for k, p in stack.processes.items()},
                "nats": stack.nats.process.pid,
                "bare uvicorn": bare.pid,
            },
            urls,
        )
        before = {name: sum(cpu_ns(p) for p in pids) for name, pids in named.items()}
        started = time.monotonic()
        time.sleep(seconds)
        elapsed = time.monotonic() - started
        # backends that came and went in the window are not counted: an idle pool keeps its connections
        named = groups(
            {
                **{k: p.pid for k, p in stack.processes.items()},
                "nats": stack.nats.process.pid,
                "bare uvicorn": bare.pid,
            },
            urls,
        )
        after = {name: sum(cpu_ns(p) for p in pids) for name, pids in named.items()}
    return {name: (after[name] - before.get(name, 0)) / 1e6 / elapsed for name in after}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--database", choices=["sqlite", "postgresql", "both"], default="both")
    parser.add_argument("--seconds", type=float, default=20.0, help="the idle window read")
    parser.add_argument("--settle", type=float, default=10.0, help="wait after the stack is ready")
    args = parser.parse_args()
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")
    for database in databases(args.database):
        figures = measure(database, args.settle, args.seconds)
        services = sum(v for k, v in figures.items() if k not in ("nats", "postgresql", "bare uvicorn"))
        print(f"{database}: CPU ms per second over {args.seconds:g} s idle")
        for name, value in figures.items():
            print(f"  {name:<12} {value:7.2f}")
        print(
            f"  {'services':<12} {services:7.2f}   ({services / max(figures['nats'], 0.01):.1f}x NATS, "
            f"{services / max(figures['bare uvicorn'], 0.01):.1f}x bare uvicorn)"
        )
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")


if __name__ == "__main__":
    main()
