"""A `serve` or `worker` process freezes what building its app left alive out of later garbage collections
(they live as long as the process); an app started and stopped in-process (every test) neither collects nor
freezes, so starting one does not walk the whole test process's heap."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from slm_shared.app import ServiceDefinition, create_app
from slm_shared.cli import build_for_serving
from slm_shared.settings import ServiceSettings
from slm_shared.testing.app_client import running_app

DEFINITION = ServiceDefinition(name="frozen", title="Frozen", description="test", migrations_package="none", routers=[])


def collectable(target: object) -> bool:
    """Whether a collection can visit `target`: it is in one of the three generations, not the permanent one."""
    return any(found is target for found in gc.get_objects())


@pytest.fixture
def unfrozen() -> Iterator[None]:
    gc.unfreeze()
    yield
    gc.unfreeze()


def settings_for(tmp_path: Path) -> ServiceSettings:
    return ServiceSettings(database_url=f"sqlite+aiosqlite:///{tmp_path / 't.db'}", run_workers=False)


def test_the_serve_path_freezes_the_app_it_built(tmp_path: Path, unfrozen: None) -> None:
    assert gc.get_freeze_count() == 0
    app = build_for_serving(DEFINITION, settings_for(tmp_path), auto_migrate=False)
    assert gc.get_freeze_count() > 0
    assert not collectable(app) and not collectable(app.router)


async def test_an_app_run_in_process_neither_collects_nor_freezes(tmp_path: Path, unfrozen: None) -> None:
    full_collections: list[int] = []

    def record(phase: str, info: dict[str, int]) -> None:
        if phase == "start" and info["generation"] == 2:
            full_collections.append(1)

    app = create_app(DEFINITION, settings_for(tmp_path), auto_migrate=False)
    gc.disable()  # no automatic collection: any full one seen below was asked for
    gc.callbacks.append(record)
    try:
        async with running_app(app) as client:
            assert (await client.get("/healthz")).status_code == 200
            assert gc.get_freeze_count() == 0
            assert collectable(app.state.db)
        assert gc.get_freeze_count() == 0
    finally:
        gc.callbacks.remove(record)
        gc.enable()
    assert full_collections == []
