"""A started service leaves what start-up built out of later garbage collections (a full collection in a
loaded process had stalled every read for 0.5-1.4 s walking it), and gives it back when it stops."""

from __future__ import annotations

import gc
from pathlib import Path

from slm_shared.app import ServiceDefinition, create_app
from slm_shared.settings import ServiceSettings
from slm_shared.testing.app_client import running_app

DEFINITION = ServiceDefinition(name="frozen", title="Frozen", description="test", migrations_package="none", routers=[])


def collectable(target: object) -> bool:
    """Whether a collection can visit `target`: it is in one of the three generations, not the permanent one."""
    return any(found is target for found in gc.get_objects())


async def test_start_up_objects_are_frozen_while_the_service_runs_and_released_when_it_stops(tmp_path: Path) -> None:
    gc.unfreeze()
    settings = ServiceSettings(database_url=f"sqlite+aiosqlite:///{tmp_path / 't.db'}", run_workers=False)
    app = create_app(DEFINITION, settings, auto_migrate=False)
    try:
        async with running_app(app) as client:
            assert (await client.get("/healthz")).status_code == 200
            database = app.state.db  # built by the lifespan at start-up
            assert gc.get_freeze_count() > 0
            assert not collectable(database) and not collectable(app.state.context)
        assert gc.get_freeze_count() == 0
        assert collectable(database)
    finally:
        gc.unfreeze()
