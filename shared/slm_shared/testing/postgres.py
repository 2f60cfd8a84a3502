"""A throwaway PostgreSQL cluster on a loopback port, started with the machine's binaries."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
from pathlib import Path

from slm_shared.testing import processes
from slm_shared.testing.ports import free_port, wait_for_port


def postgres_bin_dir() -> Path | None:
    """Where initdb and pg_ctl live: $SLM_PG_BIN, PATH, or Debian's versioned folder."""
    if os.environ.get("SLM_PG_BIN"):
        return Path(os.environ["SLM_PG_BIN"])
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(Path(p).parent.name))
    if candidates:
        return Path(candidates[-1])
    initdb = shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PostgresServer:
    """initdb + pg_ctl in a temporary folder; databases created on demand."""

    def __init__(self, *, system_user: str = "postgres") -> None:
        """Finds the binaries and, as root, `system_user` (the server cannot run as root) before making its folder:
        FileNotFoundError or KeyError without them, and nothing left behind."""
        bin_dir = postgres_bin_dir()
        if bin_dir is None or not (bin_dir / "initdb").exists():
            raise FileNotFoundError("PostgreSQL server binaries (initdb, pg_ctl) not found")
        self.bin_dir = bin_dir
        self.run_as: str | None = None
        owner = None
        if os.geteuid() == 0:
            self.run_as = system_user
            owner = pwd.getpwnam(system_user)  # raises KeyError without that user
        self.port = free_port()
        self.root = Path(tempfile.mkdtemp(prefix="slm-pg-"))
        self.data = self.root / "data"
        if owner is not None:
            os.chown(self.root, owner.pw_uid, owner.pw_gid)
        self.user = "slm"

    def _run(self, *args: str) -> None:
        command = [str(a) for a in args]
        if self.run_as:
            command = ["runuser", "-u", self.run_as, "--", *command]
        subprocess.run(command, check=True, capture_output=True, timeout=120)

    def start(self) -> PostgresServer:
        self._run(
            str(self.bin_dir / "initdb"),
            "-D",
            str(self.data),
            "-U",
            self.user,
            "--auth=trust",
            "--encoding=UTF8",
            "--no-sync",
        )
        processes.started(self, f"PostgreSQL in {self.root}", self.end_now)
        options = f"-c listen_addresses=127.0.0.1 -p {self.port} -k {self.root} -c fsync=off -c max_connections=200"
        self._run(
            str(self.bin_dir / "pg_ctl"),
            "-D",
            str(self.data),
            "-l",
            str(self.root / "log"),
            "-o",
            options,
            "-w",
            "start",
        )
        wait_for_port(self.port)
        return self

    def create_database(self, name: str) -> str:
        """Create a database and return its asyncpg URL."""
        self._run(str(self.bin_dir / "createdb"), "-h", "127.0.0.1", "-p", str(self.port), "-U", self.user, name)
        return self.url(name)

    def url(self, name: str) -> str:
        return f"postgresql+asyncpg://{self.user}@127.0.0.1:{self.port}/{name}"

    def end_now(self) -> None:
        """SIGQUIT the postmaster (an immediate shutdown) and remove the folder once it is gone, without waiting.

        pg_ctl runs the postmaster in a session of its own: nothing ends it when the pytest process ends.
        """
        try:
            pid = int((self.data / "postmaster.pid").read_text().splitlines()[0])
        except (FileNotFoundError, IndexError, ValueError):
            pid = None  # not started (or already stopped)
        if pid is not None:
            os.kill(pid, signal.SIGQUIT)
        waiting = f"while kill -0 {pid} 2>/dev/null; do sleep 0.1; done; " if pid is not None else ""
        subprocess.Popen(
            ["sh", "-c", f'{waiting}rm -rf "$0"', str(self.root)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )
        processes.stopped(self)

    def stop(self) -> None:
        try:
            self._run(str(self.bin_dir / "pg_ctl"), "-D", str(self.data), "-m", "immediate", "-w", "stop")
        except subprocess.CalledProcessError:
            pass
        processes.stopped(self)
        # A session's databases hold tens of thousands of files; deleting them can take longer
        # than a test's time bound on a busy disk, so a detached `rm` does it after the server
        # has stopped (nothing uses the folder any more).
        try:
            subprocess.Popen(
                ["rm", "-rf", str(self.root)],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
                start_new_session=True,
            )
        except OSError:
            shutil.rmtree(self.root, ignore_errors=True)
