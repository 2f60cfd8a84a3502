"""Reading points from CSV or NDJSON in batches, from a saved position, so a big file can be resumed."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

NUMBERS = ("good", "total", "value")


class BadLine(ValueError):
    """A line that is not a point; names the line number and why."""


@dataclass(frozen=True)
class Batch:
    points: list[dict[str, Any]]
    start: int
    end: int
    first_line: int

    def idempotency_key(self, path: Path) -> str:
        """The same batch of the same file always has the same key: a resumed upload is never counted twice."""
        digest = hashlib.sha256(f"{path.resolve()}:{self.start}:{self.end}".encode()).hexdigest()
        return f"slm-ingest-{digest[:40]}"


def position_file(path: Path) -> Path:
    return path.with_name(path.name + ".position")


def saved_position(state: Path, path: Path) -> int:
    """The byte offset already sent, or 0 (a different file, by size and name, starts over)."""
    if not state.is_file():
        return 0
    saved = json.loads(state.read_text(encoding="utf-8"))
    if saved.get("file") != str(path.resolve()) or saved.get("size", 0) > path.stat().st_size:
        return 0
    return int(saved.get("offset", 0))


def save_position(state: Path, path: Path, offset: int) -> None:
    temporary = state.with_name(state.name + ".tmp")
    temporary.write_text(json.dumps({"file": str(path.resolve()), "offset": offset, "size": offset}), encoding="utf-8")
    temporary.replace(state)


def _csv_point(header: list[str], raw: bytes, number: int) -> dict[str, Any]:
    row = next(csv.reader(io.StringIO(raw.decode("utf-8"))))
    if len(row) != len(header):
        raise BadLine(f"line {number}: {len(row)} fields where the header has {len(header)}")
    point: dict[str, Any] = {}
    for name, text in zip(header, row, strict=True):
        if text == "":
            continue
        if name in NUMBERS:
            try:
                point[name] = float(text)
            except ValueError:
                raise BadLine(f"line {number}: {name} {text!r} is not a number") from None
        elif name == "up":
            point[name] = text.strip().lower() in ("1", "true", "yes", "up")
        else:
            point[name] = text
    return point


def batches(path: Path, *, fmt: str, size: int, start: int = 0) -> Iterator[Batch]:
    """Batches of up to `size` points from byte offset `start`; each knows the offset after its last line."""
    with path.open("rb") as handle:
        header: list[str] = []
        line_number = 0
        if fmt == "csv":
            header_line = handle.readline()
            line_number = 1
            header = next(csv.reader(io.StringIO(header_line.decode("utf-8"))))
            start = max(start, handle.tell())
        if start:
            # Count the lines before the position so errors name the line of the file.
            handle.seek(0)
            line_number = handle.read(start).count(b"\n")
        handle.seek(start)
        points: list[dict[str, Any]] = []
        batch_start, first_line = start, line_number + 1
        while raw := handle.readline():
            line_number += 1
            if raw.strip():
                if fmt == "csv":
                    points.append(_csv_point(header, raw, line_number))
                else:
                    try:
                        points.append(json.loads(raw))
                    except json.JSONDecodeError as exc:
                        raise BadLine(f"line {line_number}: not JSON ({exc.msg})") from None
            if len(points) >= size:
                yield Batch(points, batch_start, handle.tell(), first_line)
                points, batch_start, first_line = [], handle.tell(), line_number + 1
        if points:
            yield Batch(points, batch_start, handle.tell(), first_line)
