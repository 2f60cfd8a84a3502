"""An event whose id breaks the envelope's bound, published to a subject measurement consumes, is dead-lettered at
once naming `id` and acknowledged, on SQLite and PostgreSQL (`slm_shared.testing.event_bounds`)."""

from __future__ import annotations

from slm_measurement.config import Settings
from slm_measurement.main import build_app
from slm_shared.testing.app_client import running_app
from slm_shared.testing.event_bounds import assert_event_ids_out_of_bounds_are_refused
from slm_shared.testing.nats_server import NatsServer
from slm_shared.testing.pytest_plugin import make_token


async def test_an_event_id_out_of_bounds_is_refused_at_receipt(settings: Settings, private_nats: NatsServer) -> None:
    app = build_app(
        settings.model_copy(update={"nats_url": private_nats.url, "nats_user": None, "nats_password": None})
    )
    async with running_app(app, token=make_token("acme")):
        await assert_event_ids_out_of_bounds_are_refused(app, private_nats.url)
