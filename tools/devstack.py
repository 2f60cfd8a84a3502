"""Start the embedded NATS server and the four services as real processes.

`python -m tools.devstack run` is what `make run` calls; the end-to-end tests use `Stack`.
Each service reads `<SERVICE>_DATABASE_URL` (default: a SQLite file under the data folder), so
`CATALOG_DATABASE_URL=postgresql+asyncpg://... make run` runs it on PostgreSQL, and
`--replicas measurement=2` starts more processes of a service, each on its own port.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from slm_shared.auth import issue_token
from slm_shared.bus.auth import NatsAuth
from slm_shared.settings import DEVELOPMENT_JWT_SECRET
from slm_shared.testing import processes
from slm_shared.testing.nats_server import NatsServer
from slm_shared.testing.ports import free_port


@dataclass(frozen=True)
class ServiceSpec:
    name: str
    module: str
    default_port: int

    @property
    def prefix(self) -> str:
        return self.name.upper()


SERVICES = (
    ServiceSpec("catalog", "slm_catalog.main", 8101),
    ServiceSpec("agreements", "slm_agreements.main", 8102),
    ServiceSpec("measurement", "slm_measurement.main", 8103),
    ServiceSpec("notifier", "slm_notifier.main", 8104),
)


def spec_of(process: str) -> ServiceSpec:
    """The service a process key names: `measurement` or a replica such as `measurement#2`."""
    name = process.split("#", 1)[0]
    return next(s for s in SERVICES if s.name == name)


@dataclass
class Stack:
    """NATS plus the four services, on loopback, with their data under `data_dir`."""

    data_dir: Path
    nats_port: int = 4222
    ports: dict[str, int] = field(default_factory=dict)
    extra_env: dict[str, str] = field(default_factory=dict)
    database_urls: dict[str, str] = field(default_factory=dict)
    replicas: dict[str, int] = field(default_factory=dict)
    nats_auth: NatsAuth = field(default_factory=lambda: NatsAuth.generate(ingest_tenants=["demo"]))
    nats: NatsServer | None = None
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)

    @classmethod
    def on_free_ports(cls, data_dir: Path, **kwargs: object) -> Stack:
        return cls(data_dir, nats_port=free_port(), ports={s.name: free_port() for s in SERVICES}, **kwargs)  # type: ignore[arg-type]

    @classmethod
    def from_environment(cls, data_dir: Path) -> Stack:
        ports = {s.name: int(os.environ.get(f"{s.prefix}_PORT", s.default_port)) for s in SERVICES}
        return cls(data_dir, nats_port=int(os.environ.get("SLM_NATS_PORT", "4222")), ports=ports)

    def url(self, service: str) -> str:
        return f"http://127.0.0.1:{self.ports[service]}"

    @property
    def nats_url(self) -> str:
        return f"nats://127.0.0.1:{self.nats_port}"

    def nats_options(self, user: str = "slm-operator") -> dict[str, str]:
        """`nats.connect` keyword arguments for one of this stack's NATS users (default: the operator)."""
        return self.nats_auth.users[user].connect_options()

    def env(self, spec: ServiceSpec, port: int | None = None) -> dict[str, str]:
        env = {
            **os.environ,
            **self.nats_auth.service_env(spec.name),
            "SLM_NATS_URL": self.nats_url,
            "SLM_DATA_DIR": str(self.data_dir),
            f"{spec.prefix}_HOST": "127.0.0.1",
            f"{spec.prefix}_PORT": str(port or self.ports[spec.name]),
            "AGREEMENTS_CATALOG_URL": self.url("catalog"),
            "PYTHONUNBUFFERED": "1",
        }
        env.setdefault("SLM_ENVIRONMENT", "development")
        if spec.name in self.database_urls:
            env[f"{spec.prefix}_DATABASE_URL"] = self.database_urls[spec.name]
        env.update(self.extra_env)
        return env

    def start_nats(self) -> None:
        self.nats = NatsServer(self.data_dir / "nats", port=self.nats_port, auth=self.nats_auth).start()

    def start_service(self, name: str, *, wait: bool = True, env: dict[str, str] | None = None) -> None:
        """Start a service (or a replica key such as `measurement#2`, on its port in `ports`); `env` adds settings."""
        spec = spec_of(name)
        self.data_dir.mkdir(parents=True, exist_ok=True)
        log = open(self.data_dir / f"{name.replace('#', '-')}.log", "ab")  # noqa: SIM115 - the child keeps it
        self.processes[name] = subprocess.Popen(
            [sys.executable, "-m", spec.module, "serve"],
            env={**self.env(spec, self.ports[name]), **(env or {})},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        log.close()
        processes.started_process(self.processes[name], f"{name} on port {self.ports[name]}")
        if wait:
            self.wait_ready(name)

    def start_replica(self, name: str, *, wait: bool = True, env: dict[str, str] | None = None) -> str:
        """Start one more process of a service, sharing its database and NATS; returns its key."""
        index = 2
        while f"{name}#{index}" in self.ports:
            index += 1
        key = f"{name}#{index}"
        self.ports[key] = free_port()
        self.start_service(key, wait=wait, env=env)
        return key

    def replicas_of(self, name: str) -> list[str]:
        """The running process keys of one service: `name`, `name#2`, ..."""
        return [key for key in self.processes if spec_of(key).name == name]

    def wait_ready(self, name: str, timeout: float = 180.0) -> None:
        """Wait until /readyz answers 200 (database migrated, NATS connected)."""
        deadline = time.monotonic() + timeout
        process = self.processes[name]
        while time.monotonic() < deadline:
            if process.poll() is not None:
                log = self.data_dir / f"{name.replace('#', '-')}.log"
                raise RuntimeError(f"{name} exited with {process.returncode}; see {log}")
            try:
                if httpx.get(f"{self.url(name)}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"{name} not ready after {timeout}s")

    def kill_service(self, name: str) -> None:
        """SIGKILL a service: no graceful shutdown."""
        process = self.processes.pop(name)
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
        processes.stopped(process)

    def stop_service(self, name: str, *, signalled: bool = False) -> None:
        """SIGINT (once: a second one makes uvicorn skip the graceful shutdown), then wait; SIGKILL past the bound."""
        process = self.processes.pop(name, None)
        if process is None:
            return
        if process.poll() is None:
            if not signalled:
                process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=25)  # uvicorn's 10 s for requests, then the lifespan's own bounds
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
        processes.stopped(process)

    def start(self) -> Stack:
        self.start_nats()
        for spec in SERVICES:
            self.start_service(spec.name, wait=False)
        for spec in SERVICES:
            self.wait_ready(spec.name)
        # Replicas start once the first process has migrated the database.
        extra = [self.start_replica(spec.name, wait=False) for spec in SERVICES for _ in range(self.replicas_for(spec))]
        for key in extra:
            self.wait_ready(key)
        return self

    def replicas_for(self, spec: ServiceSpec) -> int:
        return max(self.replicas.get(spec.name, 1) - 1, 0)

    def stop(self) -> None:
        """Stop every service at once (each shuts down within its own bounds), then NATS."""
        for process in self.processes.values():
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        for name in list(self.processes):
            self.stop_service(name, signalled=True)
        if self.nats is not None:
            self.nats.stop()

    def __enter__(self) -> Stack:
        try:
            return self.start()
        except BaseException:
            self.stop()  # what did start (NATS, the services already up) must not outlive a failed start
            raise

    def __exit__(self, *exc: object) -> None:
        self.stop()


def _banner(stack: Stack, token: str) -> str:
    lines = [
        "",
        "Service level management platform is running:",
        f"  NATS         {stack.nats_url}   (each service logs in as its own user; config {stack.data_dir}/nats)",
    ]
    for user in stack.nats_auth.users.values():
        if user.tenant is not None:
            lines += [
                f"  NATS ingest  user {user.user!r} password {user.password!r} inbox_prefix {user.inbox_prefix!r}",
                f"               publishes to slm.ingest.{user.tenant}.<anything> only",
            ]
    for key in stack.processes:
        url = stack.url(key)
        lines.append(f"  {key:<14} {url}   docs: {url}/docs")
    lines += [
        f"  data         {stack.data_dir}",
        "",
        "Development admin token (tenant 'demo', 12 h):",
        f"  {token}",
        "",
        "Try:  make demo      (in another terminal)",
        "Stop: Ctrl-C",
        "",
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="devstack", description=__doc__)
    parser.add_argument("command", choices=["run"])
    parser.add_argument("--data-dir", default=os.environ.get("SLM_DATA_DIR", "var"))
    parser.add_argument(
        "--replicas", action="append", default=[], metavar="SERVICE=N", help="processes of a service (default 1)"
    )
    parser.add_argument(
        "--ingest-tenant",
        action="append",
        default=[],
        metavar="TENANT",
        help="also make a NATS ingest user for this tenant (demo always has one)",
    )
    args = parser.parse_args(argv)
    stack = Stack.from_environment(Path(args.data_dir).resolve())
    try:
        stack.nats_auth = NatsAuth.generate(ingest_tenants=sorted({"demo", *args.ingest_tenant}))
    except ValueError as exc:
        parser.error(str(exc))
    for item in args.replicas:
        name, _, count = item.partition("=")
        if name not in {s.name for s in SERVICES} or not count.isdigit() or int(count) < 1:
            parser.error(f"--replicas wants SERVICE=N with one of {[s.name for s in SERVICES]}, not {item!r}")
        stack.replicas[name] = int(count)
    stopping = False

    def _stop(*_: object) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGTERM, _stop)
    try:
        stack.start()
        secret = os.environ.get("SLM_JWT_SECRET", DEVELOPMENT_JWT_SECRET)
        token = issue_token(secret, tenant="demo", roles=["admin"], subject="dev-admin", ttl_seconds=12 * 3600)
        (stack.data_dir / "admin.token").write_text(token + "\n")
        print(_banner(stack, token), flush=True)
        while not stopping:
            for name, process in stack.processes.items():
                if process.poll() is not None:
                    print(f"{name} exited ({process.returncode}); see {stack.data_dir}", flush=True)
                    stopping = True
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    finally:
        print("\nStopping...", flush=True)
        stack.stop()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
