"""A report's PDF: the Chromium printing it never outlives the request, whether it ends, takes too long or is cancelled.

Each test prints under its own temporary folder and registers the Chromium processes under it with the test
plugin's registry (`slm_shared.testing.processes`), so an overrun of the test ends them too.
"""

from __future__ import annotations

import asyncio
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from slm_measurement.reports import pdf
from slm_shared.errors import ProblemError
from slm_shared.testing import processes

NEVER_LOADS = "<html><body><p>report</p><script>for (;;) {}</script></body></html>"


@pytest.fixture
def browser() -> str:
    binary = pdf.browser("")
    if binary is None:
        pytest.skip("no chromium binary found (tools/ensure-chromium.sh installs Debian's chromium)")
    return binary


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Path]:
    """The folder `html_to_pdf` prints in for this test; what runs under it is ended on an overrun, and after."""
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    processes.started_under(tmp_path, tmp_path, f"Chromium printing under {tmp_path}")
    yield tmp_path
    processes.end_under(tmp_path)
    processes.stopped(tmp_path)


@pytest.fixture
def stubborn_browser(tmp_path: Path) -> Path:
    """A browser that starts a helper (which ignores its parent's end, naming the print's folder) and never prints.

    Chromium's own helpers end soon after their browser: this one shows whether the whole group is ended.
    """
    script = tmp_path / "stubborn-browser"
    helper = "import time; time.sleep(3600)"
    script.write_text(
        f"#!{sys.executable}\n"
        "import subprocess, sys, time\n"
        f"subprocess.Popen([sys.executable, '-c', {helper!r}, *sys.argv[1:]])\n"
        "while True:\n"
        "    time.sleep(0.1)\n"
    )
    script.chmod(0o755)
    return script


async def _none_left(folder: Path) -> list[int]:
    for _ in range(100):  # the helpers see their browser gone within moments
        if not (left := processes.running_under(folder)):
            return left
        await asyncio.sleep(0.05)
    return processes.running_under(folder)


async def test_a_report_prints_and_its_browser_is_gone(browser: str, folder: Path) -> None:
    printed = await pdf.html_to_pdf("<html><body><p>report</p></body></html>", binary=browser, seconds=60)
    assert printed.startswith(b"%PDF")
    assert await _none_left(folder) == []


async def test_a_print_that_takes_too_long_ends_its_browser(browser: str, folder: Path) -> None:
    with pytest.raises(ProblemError) as slow:
        await pdf.html_to_pdf(NEVER_LOADS, binary=browser, seconds=3)
    assert slow.value.status == 503
    assert await _none_left(folder) == []


async def test_a_cancelled_print_ends_its_browser(browser: str, folder: Path) -> None:
    printing = asyncio.create_task(pdf.html_to_pdf(NEVER_LOADS, binary=browser, seconds=60))
    while not processes.running_under(folder):
        await asyncio.sleep(0.05)
    await asyncio.sleep(1)  # the browser has started its helpers
    printing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await printing
    assert await _none_left(folder) == []


async def _helper_started(folder: Path) -> None:
    while len(processes.running_under(folder)) < 2:  # the browser and its helper (the test's timeout bounds this)
        await asyncio.sleep(0.05)


async def test_a_cancelled_print_ends_the_helpers_its_browser_left(stubborn_browser: Path, folder: Path) -> None:
    printing = asyncio.create_task(pdf.html_to_pdf("<p>report</p>", binary=str(stubborn_browser), seconds=60))
    await _helper_started(folder)
    printing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await printing
    assert await _none_left(folder) == []


async def test_a_print_that_takes_too_long_ends_the_helpers_its_browser_left(
    stubborn_browser: Path, folder: Path
) -> None:
    printing = asyncio.create_task(pdf.html_to_pdf("<p>report</p>", binary=str(stubborn_browser), seconds=5))
    await _helper_started(folder)
    with pytest.raises(ProblemError) as slow:
        await printing
    assert slow.value.status == 503
    assert await _none_left(folder) == []
