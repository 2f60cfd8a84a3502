"""What the pass's caches cost when a pass reads more distinct entries than they hold, against no cache.

  ours     : a pass's lookups through the cache, repeated pass after pass in the same order
             (`agreed.agreed_from_stored` for agreements' stored versions, `sqlite_json._instant` for
             SQLite's instant texts), `--entries` distinct of them: by default more than each holds
  baseline : the same lookups worked out every time (`agreed._worked_out`, `UTCDateTime`'s reader)
  lru      : the same lookups through a least-recently-used cache of the same size keyed by the payload's
             text, as before: a pass in the same order drops the next entry needed, so above its size it
             never hits

Each pass looks up new but equal objects, as a read gives them. Each payload is an activation's terms of
three objectives (about 450 characters). Rounds are interleaved, which side goes first alternating; the CPU
time of each pass is measured. Ratio ours / baseline (below 1: the cache helps) and lru / baseline, the
median over the rounds, with the share of a pass's lookups each cache found.

Run: .venv/bin/python bench/pass_cache_bench.py [--entries 10000] [--rounds 8]
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import statistics
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from slm_measurement import agreed, sqlite_json

START = datetime(2026, 3, 12, 10, 17, 42, tzinfo=UTC)


def stored_versions(n: int) -> tuple[agreed.StoredVersion, ...]:
    objectives = [
        {
            "objective_id": f"{name}-{n}",
            "indicator": name,
            "target": 0.99,
            "window": {"kind": "rolling", "duration": "30d"},
        }
        for name in ("availability", "latency", "errors")
    ]
    payload = json.dumps({"agreement_id": f"agreement-{n}", "version": 1, "objectives": objectives, "credits": []})
    return ((1, START - timedelta(minutes=n), None, None, None, payload),)


def instant_text(n: int) -> str:
    return (START - timedelta(seconds=n)).strftime("%Y-%m-%d %H:%M:%S.%f")


def fresh(item: Any) -> Any:
    """The item as a new read gives it: equal, but new objects (a string's hash is not cached on it yet)."""
    if isinstance(item, str):
        return item.encode().decode()
    return tuple(fresh(part) for part in item) if isinstance(item, tuple) else item


def cpu_of(lookup: Callable[[Any], Any], work: list[Any]) -> float:
    work = [fresh(item) for item in work]
    began = time.process_time()
    for item in work:
        lookup(item)
    return time.process_time() - began


def found(lookup: Callable[[Any], Any], work: list[Any]) -> float:
    """The share of a pass's lookups that gave the object the previous pass gave (the entry kept)."""
    before = [lookup(item) for item in work]
    return sum(a is lookup(item) for a, item in zip(before, work, strict=True)) / len(work)


def measure(
    name: str, ours: Callable[[Any], Any], baseline: Callable[[Any], Any], size: int, work: list[Any], rounds: int
) -> None:
    lru = functools.lru_cache(maxsize=size)(baseline)
    sides = {"ours": ours, "baseline": baseline, "lru": lru}
    for lookup in sides.values():
        cpu_of(lookup, work)  # warm: the caches as a pass leaves them
    times: dict[str, list[float]] = {side: [] for side in sides}
    for n in range(rounds):
        order = list(sides) if n % 2 == 0 else list(reversed(sides))
        for side in order:
            times[side].append(cpu_of(sides[side], work))
    base = statistics.median(times["baseline"])
    print(
        f"{name}: {len(work)} distinct, cache of {size}: baseline {base * 1e3:.1f} ms CPU per pass; "
        f"ours/baseline {statistics.median(times['ours']) / base:.2f} (found {found(ours, work):.0%}), "
        f"lru/baseline {statistics.median(times['lru']) / base:.2f} (found {found(lru, work):.0%})"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--entries", type=int, default=10_000, help="distinct entries a pass reads")
    parser.add_argument("--rounds", type=int, default=8, help="even: each side goes first as often")
    args = parser.parse_args()
    print(f"load average {os.getloadavg()}")
    agreements = [stored_versions(n) for n in range(args.entries)]
    measure(
        "stored versions",
        lambda s: agreed.agreed_from_stored(s, False),
        lambda s: agreed._worked_out(s),
        agreed._AGREED.max_entries,
        agreements,
        args.rounds,
    )
    texts = [instant_text(n) for n in range(args.entries)]
    measure(
        "instants", sqlite_json._instant, sqlite_json._read_utc, sqlite_json._INSTANTS.max_entries, texts, args.rounds
    )


if __name__ == "__main__":
    main()
