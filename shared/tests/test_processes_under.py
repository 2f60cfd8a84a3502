"""What runs under a folder (`slm_shared.testing.processes.running_under`): that folder's paths, not a sibling's."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

from slm_shared.testing import processes


def test_what_runs_under_a_folder_is_what_names_it_or_a_path_under_it_not_a_longer_name(tmp_path: Path) -> None:
    one, ten = tmp_path / "test_x1", tmp_path / "test_x10"
    sleeping = [sys.executable, "-c", "import time; time.sleep(60)"]
    under_ten = subprocess.Popen([*sleeping, f"--user-data-dir={ten}/profile"])
    naming_one = subprocess.Popen([*sleeping, str(one)])
    try:
        _exec_done(under_ten.pid, naming_one.pid)
        assert processes.running_under(ten) == [under_ten.pid]
        assert processes.running_under(one) == [naming_one.pid]
        assert sorted(processes.running_under(tmp_path)) == sorted([under_ten.pid, naming_one.pid])
    finally:
        for process in (under_ten, naming_one):
            process.kill()
            process.wait()


def _exec_done(*pids: int) -> None:
    """Wait (at most 10 s) until each child runs its own command line: just after `Popen` a child may still show its
    parent's (fork done, exec not yet), which a loaded machine makes long enough to read."""
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if all("time.sleep(60)" in Path(f"/proc/{pid}/cmdline").read_bytes().decode(errors="replace") for pid in pids):
            return
        time.sleep(0.01)
