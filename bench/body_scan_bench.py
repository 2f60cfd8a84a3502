"""What the shared body check (`slm_shared.web.body_limit`) costs on a JSON body before authentication, against the
ways it was done before, in the same run, alternating:

- the scan for a number no field may take (`json_guard.suspect`) against the regex it replaced, on `[],`-padded
  bodies, valid ingest rows (measurement's `Point`: service, indicator, timestamp, good, total), the rows with a NaN
  at the end (found), rows each with a uuid4 `scope` (a hex id holding `1e400` or the like is found too: such a body
  is parsed a second time only up to `json_guard.REPARSE_MAX_BYTES`, so not at these sizes), and bodies of digits;
  the scan only;
- the whole number check (`json_guard.body_refusal`) against it parsing every suspect body (as it did before
  REPARSE_MAX_BYTES), on 16 MiB of uuid rows and of `[],` with the string "NaN";
- the NDJSON check for bytes that are not UTF-8 (`BodySizeLimitMiddleware._not_utf8`) against reading every such
  line again, on 63 lines of 256 KiB each holding `\\xff` nested deeper than 64 levels (no field can be named).

Usage: .venv/bin/python bench/body_scan_bench.py [rounds]
"""

from __future__ import annotations

import json
import random
import re
import statistics
import sys
import time
import uuid
from collections.abc import Callable

from slm_shared.web.body_limit import BodySizeLimitMiddleware, _utf8
from slm_shared.web.json_guard import body_refusal, load_json, suspect, unencodable_field

OLD_SUSPECT = re.compile(rb"NaN|Infinity|[eE]\+?0*[1-9]\d\d|\d{300}")
POINT = {"service": "payments", "indicator": "availability", "timestamp": "2026-12-01T10:00:00Z", "good": 998}
ROW = json.dumps({**POINT, "total": 1000}).encode()


def bodies(size: int) -> dict[str, bytes]:
    rows = b"[" + b",".join([ROW] * (size // (len(ROW) + 1))) + b"]"
    return {
        "[],": b"[" + b"[]," * (size // 3) + b"[]]",
        "rows": rows,
        "rows+NaN": rows[:-1] + b',{"good":NaN}]',
        "uuid rows": b"[" + b",".join(uuid_rows(size)) + b"]",
        "1,": b"[" + b"1," * (size // 2) + b"1]",
        "99 digits,": b"[" + (b"9" * 99 + b",") * (size // 100) + b"1]",
    }


def uuid_rows(size: int) -> list[bytes]:
    """Rows each with a uuid4 `scope` (seeded: the same ids every run), up to `size` bytes."""
    ids = random.Random(4)
    rows, total = [], 0
    while total < size:
        scope = str(uuid.UUID(int=ids.getrandbits(128), version=4))
        rows.append(json.dumps({**POINT, "total": 1000, "scope": scope}).encode())
        total += len(rows[-1]) + 1
    return rows


def every_line(body: bytes) -> object:
    """The NDJSON check as it was: every line that is not UTF-8 read again until one names a field."""
    lines = [line for line in body.splitlines() if line.strip()]
    return next(
        (
            found
            for index, line in enumerate(lines)
            if not _utf8(line) and (found := unencodable_field(line, prefix=(index,), names="dotted"))
        ),
        None,
    )


def timed(work: Callable[[], object], rounds: int) -> tuple[float, object]:
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        result = work()
        times.append(time.perf_counter() - started)
    return statistics.median(times) * 1000, result


def main(rounds: int) -> None:
    for mib in (1, 16):
        for name, body in bodies(mib << 20).items():
            old, found_old = timed(lambda: OLD_SUSPECT.search(body) is not None, rounds)  # noqa: B023
            new, found_new = timed(lambda: suspect(body), rounds)  # noqa: B023
            print(f"scan {mib:2} MiB {name:11} regex {old:8.1f} ms ({found_old})  now {new:7.1f} ms ({found_new})")
    for name, body in {
        "uuid rows": b"[" + b",".join(uuid_rows(16 << 20)) + b"]",
        '[], "NaN"': b"[" + b"[]," * ((16 << 20) // 3) + b'"NaN"]',
    }.items():
        old, _ = timed(lambda: load_json(body, max_depth=10_000), rounds)  # noqa: B023
        new, _ = timed(lambda: body_refusal(body, "application/json"), rounds)  # noqa: B023
        print(f"check 16 MiB {name:10} parsed {old:8.1f} ms  now {new:7.1f} ms")
    pad = (256 << 10) - 300
    deep = b"[" * 70 + b'"\xff"' + b"]" * 70
    line = deep[:-1] + b"," + b"[]," * (pad // 3) + b"[]]"
    body = b"\n".join([line] * 63) + b"\n"
    middleware = BodySizeLimitMiddleware(app=None, max_bytes=16 << 20)  # type: ignore[arg-type]
    scope = {"type": "http", "method": "POST", "path": "/nope", "headers": []}
    old, _ = timed(lambda: every_line(body), rounds)
    new, _ = timed(lambda: middleware._not_utf8(body, "application/x-ndjson", scope), rounds)
    print(f"NDJSON {len(body) / (1 << 20):.1f} MiB, 63 lines not UTF-8: every line {old:8.1f} ms  now {new:7.1f} ms")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 5)
