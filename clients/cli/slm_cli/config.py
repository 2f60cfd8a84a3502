"""Where the services are and which token to send: flags, then environment, then a config file."""

from __future__ import annotations

import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

SERVICES = ("catalog", "agreements", "measurement", "notifier")
DEFAULT_PORTS = {"catalog": 8101, "agreements": 8102, "measurement": 8103, "notifier": 8104}


def default_config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(os.environ.get("SLM_CONFIG", str(Path(base) / "slm" / "config.toml")))


@dataclass(frozen=True)
class Config:
    urls: dict[str, str]
    token: str | None


def load(
    *, config_file: Path | None, token: str | None, urls: dict[str, str | None], environ: dict[str, str] | None = None
) -> Config:
    """Resolve each URL and the token: a flag wins over `SLM_<SERVICE>_URL`/`SLM_TOKEN`, which win over the file."""
    env = os.environ if environ is None else environ
    path = config_file or default_config_path()
    stored: dict[str, object] = tomllib.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
    stored_urls = stored.get("urls", {})
    resolved = {}
    for service in SERVICES:
        resolved[service] = (
            urls.get(service)
            or env.get(f"SLM_{service.upper()}_URL")
            or (stored_urls.get(service) if isinstance(stored_urls, dict) else None)
            or f"http://127.0.0.1:{DEFAULT_PORTS[service]}"
        ).rstrip("/")
    chosen = token or env.get("SLM_TOKEN") or stored.get("token")
    return Config(urls=resolved, token=str(chosen) if chosen else None)
