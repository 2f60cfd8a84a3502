"""Reports as PDF: the HTML report printed by a headless Chromium (the same page people see, charts included)."""

from __future__ import annotations

import asyncio
import contextlib
import os
import shutil
import signal
import tempfile
from pathlib import Path

from slm_shared.errors import ProblemError

BROWSERS = ("chromium", "chromium-browser", "google-chrome")


def browser(configured: str) -> str | None:
    """The browser to print with: the configured path, else the first found on PATH."""
    if configured:
        return configured if Path(configured).is_file() else None
    return next((found for name in BROWSERS if (found := shutil.which(name))), None)


async def html_to_pdf(html: str, *, binary: str | None, seconds: float) -> bytes:
    """Print the page to PDF (A4, no browser header or footer); 503 when no browser can be run here."""
    if binary is None:
        raise ProblemError("PDF is not available: no headless browser is installed here", status=503)
    with tempfile.TemporaryDirectory(prefix="slm-pdf-") as folder:
        page, out = Path(folder) / "report.html", Path(folder) / "report.pdf"
        page.write_text(html, encoding="utf-8")
        process = await asyncio.create_subprocess_exec(
            binary, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run",
            "--disable-background-networking", "--disable-component-update", "--disable-sync",
            "--no-pdf-header-footer", f"--user-data-dir={folder}/profile", f"--print-to-pdf={out}", page.as_uri(),
            stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        try:
            await asyncio.wait_for(process.wait(), timeout=seconds)
        except TimeoutError:
            raise ProblemError("PDF rendering took too long", status=503) from None
        finally:
            if process.returncode is None:  # too long, or the request was cancelled: never left printing
                _end(process)
                await process.wait()
        if not out.is_file() or out.stat().st_size == 0:
            raise ProblemError("PDF rendering failed", status=503)
        return out.read_bytes()


def _end(process: asyncio.subprocess.Process) -> None:
    """SIGKILL the browser and the helpers it started: it leads its own process group (`start_new_session`).

    asyncio may not have reported an exit its child watcher already reaped (in a thread of its own), but the
    group's id is not handed to another process while any of the group lives: the signal ends the helpers left,
    or finds no group (a pid reused since is another group's id only if its new process made itself a leader).
    """
    with contextlib.suppress(ProcessLookupError):
        os.killpg(process.pid, signal.SIGKILL)
