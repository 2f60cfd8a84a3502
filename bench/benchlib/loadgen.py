"""A lean keep-alive HTTP/1.1 GET client, so the load generator costs less than the servers it measures."""

from __future__ import annotations

import asyncio
import os
import time
from dataclasses import dataclass, field

from benchlib.stats import percentile

CONCURRENCY = 16  # connections the load generator keeps open to the server it measures


@dataclass
class Result:
    """Requests per second and per-request latencies (seconds) of one round."""

    rate: float
    latencies: list[float] = field(default_factory=list)
    failures: int = 0
    cpu_seconds: float | None = None  # the server process's CPU time over the round, all its threads
    machine: MachineTime | None = None  # the whole machine's CPU time over the round (with `pid` given)
    probe_ms: float | None = None  # CPU time of `speed_probe` just before the round (with `pid` given)

    @property
    def p99(self) -> float:
        return percentile(self.latencies, 0.99)

    @property
    def p50(self) -> float:
        return percentile(self.latencies, 0.50)


@dataclass(frozen=True)
class MachineTime:
    """CPU time of all the machine's CPUs from /proc/stat, in seconds: busy (any process, the kernel, interrupts)
    and stolen (a vCPU that was ready but the hypervisor ran something else)."""

    busy: float
    steal: float

    def __sub__(self, other: MachineTime) -> MachineTime:
        return MachineTime(self.busy - other.busy, self.steal - other.steal)


def machine_time() -> MachineTime:
    """The machine's CPU time so far (the first line of /proc/stat, in clock ticks)."""
    with open("/proc/stat") as stat:
        fields = [int(n) for n in stat.readline().split()[1:]]
    user, nice, system, _idle, _iowait, irq, softirq, steal = fields[:8]
    tick = os.sysconf("SC_CLK_TCK")
    return MachineTime((user + nice + system + irq + softirq) / tick, steal / tick)


PROBE_LOOPS = 200_000


def speed_probe() -> float:
    """Milliseconds of CPU time a fixed piece of pure Python takes (the least of three): what the same code costs
    on this CPU at this moment. Rounds of the same code whose CPU per request differs with it ran on a slower
    or faster CPU (a busy neighbour on the host, a shared cache), not slower or faster code."""
    spent = []
    for _ in range(3):
        started = time.thread_time()
        total = 0
        for n in range(PROBE_LOOPS):
            total += n * n % 7
        spent.append(time.thread_time() - started)
    return min(spent) * 1000


def process_cpu_seconds(pid: int) -> float:
    """The CPU time all threads of a process have run so far, those that ended too, in seconds counted in
    nanoseconds: Linux's CPU-time clock of that process, the clock id `clock_getcpuclockid(3)` gives (CPUCLOCK_SCHED
    of the pid). /proc/<pid>/stat counts in 10 ms ticks, a few over a round of requests, which quantises CPU per
    request; the threads' /proc schedstat drop a thread's time once it ends."""
    return time.clock_gettime_ns(_SCHED_CLOCK | (~pid << 3)) / 1e9


_SCHED_CLOCK = 2  # CPUCLOCK_SCHED: time on a CPU, in nanoseconds


async def _read_response(reader: asyncio.StreamReader) -> int:
    head = await reader.readuntil(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    length = 0
    for header in head.split(b"\r\n"):
        if header[:15].lower() == b"content-length:":
            length = int(header[15:])
    if length:
        await reader.readexactly(length)
    return status


async def hammer(
    port: int,
    path: str,
    *,
    requests: int,
    concurrency: int = CONCURRENCY,
    headers: dict[str, str] | None = None,
    expect: int = 200,
    pid: int | None = None,
) -> Result:
    """GET `path` `requests` times over `concurrency` keep-alive connections to 127.0.0.1:port; an answer
    other than `expect` counts as a failure. With `pid`, the CPU time that server process spent is kept too."""
    extra = "".join(f"{k}: {v}\r\n" for k, v in (headers or {}).items())
    request = f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\n{extra}\r\n".encode()
    remaining = requests
    latencies: list[float] = []
    failures = 0

    async def connection() -> None:
        nonlocal remaining, failures
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        try:
            while remaining > 0:
                remaining -= 1
                started = time.perf_counter()
                writer.write(request)
                status = await _read_response(reader)
                latencies.append(time.perf_counter() - started)
                failures += status != expect
        finally:
            writer.close()

    probe = speed_probe() if pid is not None else None
    cpu = process_cpu_seconds(pid) if pid is not None else 0.0
    machine = machine_time() if pid is not None else None
    started = time.perf_counter()
    await asyncio.gather(*(connection() for _ in range(concurrency)))
    elapsed = time.perf_counter() - started
    spent = process_cpu_seconds(pid) - cpu if pid is not None else None
    return Result(
        rate=requests / elapsed,
        latencies=latencies,
        failures=failures,
        cpu_seconds=spent,
        machine=machine_time() - machine if machine is not None else None,
        probe_ms=probe,
    )
