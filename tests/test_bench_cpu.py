"""The benchmarks' server CPU time is counted in nanoseconds over all of a process's threads, those that ended too,
not in the 10 ms ticks of /proc/<pid>/stat, which quantise CPU per request over a round of a few hundred requests."""

from __future__ import annotations

import os
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "bench"))

from benchlib.loadgen import machine_time, process_cpu_seconds, speed_probe

SPIN_SECONDS = 0.003  # under a tick


def spin() -> None:
    started = time.thread_time()
    while time.thread_time() - started < SPIN_SECONDS:
        pass


def test_a_process_cpu_time_is_finer_than_a_tick_and_counts_a_thread_that_ended() -> None:
    before = process_cpu_seconds(os.getpid())
    worker = threading.Thread(target=spin)  # its time counts once it has ended; this thread only waits
    worker.start()
    worker.join()
    spent = process_cpu_seconds(os.getpid()) - before
    assert SPIN_SECONDS <= spent < 3 * SPIN_SECONDS, spent


def test_the_machine_s_cpu_time_counts_what_this_process_spends_and_the_probe_times_a_fixed_loop() -> None:
    before = machine_time()
    started = time.thread_time()
    while time.thread_time() - started < 0.05:  # five ticks of /proc/stat
        pass
    spent = machine_time() - before
    assert spent.busy >= 0.03, spent  # this process's CPU, at least (ticks are counted whole)
    assert spent.steal >= 0
    assert 0 < speed_probe() < 1000
