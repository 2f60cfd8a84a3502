"""A real Prometheus server for tests: backfilled history, scraping a loopback exporter the test controls."""

from __future__ import annotations

import shutil
import subprocess
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx

from slm_shared.testing import processes
from slm_shared.testing.ports import free_port


def binaries() -> tuple[str, str] | None:
    prometheus, promtool = shutil.which("prometheus"), shutil.which("promtool")
    return (prometheus, promtool) if prometheus and promtool else None


class Exporter:
    """Counters served at /metrics in the Prometheus text format; the test moves them."""

    def __init__(self) -> None:
        self.counters: dict[str, float] = {}
        self.lock = threading.Lock()
        exporter = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with exporter.lock:
                    body = "".join(f"{name} {value}\n" for name, value in exporter.counters.items()).encode()
                self.send_response(200)
                self.send_header("Content-Type", "text/plain; version=0.0.4")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *_: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.server.server_address[1]}"

    def add(self, name: str, amount: float) -> None:
        with self.lock:
            self.counters[name] = self.counters.get(name, 0.0) + amount

    def __enter__(self) -> Exporter:
        self.thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def backfill(promtool: str, folder: Path, series: dict[str, Iterator[tuple[int, float]]]) -> None:
    """Write OpenMetrics history and turn it into TSDB blocks in `folder` (promtool create-blocks-from)."""
    source = folder.parent / "history.om"
    with source.open("w") as out:
        for name, samples in series.items():
            family = name.split("{")[0].removesuffix("_total")
            out.write(f"# TYPE {family} counter\n")
            for stamp, value in samples:
                out.write(f"{name} {value} {stamp}\n")
        out.write("# EOF\n")
    folder.mkdir(parents=True, exist_ok=True)
    subprocess.run(
        [promtool, "tsdb", "create-blocks-from", "openmetrics", "--max-block-duration=720h", str(source), str(folder)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip


class Prometheus:
    """`prometheus` on a free loopback port with its own data folder, scraping the exporter every second."""

    def __init__(self, binary: str, folder: Path, target: str) -> None:
        self.port = free_port()
        self.folder = folder
        config = folder.parent / "prometheus.yml"
        config.write_text(
            "global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\n"
            f"scrape_configs:\n  - job_name: exporter\n    static_configs:\n      - targets: ['{target}']\n"
        )
        self.command = [
            binary, f"--config.file={config}", f"--storage.tsdb.path={folder}",
            f"--web.listen-address=127.0.0.1:{self.port}", "--storage.tsdb.retention.time=400d",
        ]  # fmt: skip
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> Prometheus:
        log = (self.folder.parent / "prometheus.log").open("wb")
        self.process = subprocess.Popen(self.command, stdout=log, stderr=subprocess.STDOUT)
        processes.started_process(self.process, f"prometheus on port {self.port}")
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/-/ready", timeout=1).status_code == 200:
                    return self
            except httpx.HTTPError:
                pass
            time.sleep(0.2)
        self.__exit__()
        raise TimeoutError("prometheus did not become ready")

    def __exit__(self, *_: object) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        if self.process is not None:
            processes.stopped(self.process)
