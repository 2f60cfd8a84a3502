"""The README's configuration table names every setting each service reads."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest
from pydantic_settings import BaseSettings

from slm_shared.settings import ServiceSettings

README = Path(__file__).resolve().parent.parent / "README.md"
SERVICES = ("catalog", "agreements", "measurement", "notifier")


def documented_names() -> set[str]:
    """Every `NAME` in the first column of the README's configuration table."""
    text = README.read_text(encoding="utf-8")
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    names: set[str] = set()
    for line in section.splitlines():
        if line.startswith("| `"):
            names.update(re.findall(r"`([A-Z0-9_<>]+)`", line.split("|")[1]))
    return names


def env_names(settings: type[BaseSettings], prefix: str) -> dict[str, str]:
    """Field name to the environment variable that sets it."""
    names = {}
    for name, field in settings.model_fields.items():
        alias = field.validation_alias
        names[name] = alias if isinstance(alias, str) else f"{prefix}{name.upper()}"
    return names


@pytest.mark.parametrize("service", SERVICES)
def test_every_setting_is_documented(service: str) -> None:
    settings = importlib.import_module(f"slm_{service}.config").Settings
    prefix = settings.model_config["env_prefix"]
    common = set(ServiceSettings.model_fields)
    documented = documented_names()
    missing = []
    for name, env in env_names(settings, prefix).items():
        generic = env.replace(prefix, "<SERVICE>_", 1) if env.startswith(prefix) else env
        wanted = generic if name in common else env
        if wanted not in documented:
            missing.append(wanted)
    assert not missing, f"README configuration table lacks: {sorted(set(missing))}"
