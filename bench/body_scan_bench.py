"""What the shared body check (`slm_shared.web.body_limit`) costs on a JSON body before authentication, against the
ways it was done before, in the same run, alternating:

- the scan for a number no field may take (`json_guard.suspect`) against the regex it replaced, on `[],`-padded
  bodies, valid ingest rows, the rows with a NaN at the end (found: the body is then parsed, not timed here), and
  bodies of digits;
- the NDJSON check for bytes that are not UTF-8 (`BodySizeLimitMiddleware._not_utf8`) against reading every such
  line again, on 63 lines of 256 KiB each holding `\\xff` nested deeper than 64 levels (no field can be named).

Usage: .venv/bin/python bench/body_scan_bench.py [rounds]
"""

from __future__ import annotations

import json
import re
import statistics
import sys
import time
from collections.abc import Callable

from slm_shared.web.body_limit import BodySizeLimitMiddleware, _utf8
from slm_shared.web.json_guard import suspect, unencodable_field

OLD_SUSPECT = re.compile(rb"NaN|Infinity|[eE]\+?0*[1-9]\d\d|\d{300}")
ROW = json.dumps(
    {"service": "payments", "indicator": "availability", "good": 998, "total": 1000, "at": "2026-12-01T10:00:00Z"}
).encode()


def bodies(size: int) -> dict[str, bytes]:
    rows = b"[" + b",".join([ROW] * (size // (len(ROW) + 1))) + b"]"
    return {
        "[],": b"[" + b"[]," * (size // 3) + b"[]]",
        "rows": rows,
        "rows+NaN": rows[:-1] + b',{"good":NaN}]',
        "1,": b"[" + b"1," * (size // 2) + b"1]",
        "99 digits,": b"[" + (b"9" * 99 + b",") * (size // 100) + b"1]",
    }


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
