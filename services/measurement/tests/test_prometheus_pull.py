"""SLIs pulled by PromQL from a real Prometheus: scheduled pulls, a month replayed, failures told apart."""

from __future__ import annotations

import asyncio
import json
import threading
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import nats
import pytest
from measurement_support import activation, eventually, stream_messages
from prometheus_support import Exporter, Prometheus, backfill, binaries

from slm_measurement import read_model
from slm_measurement.config import Settings
from slm_measurement.main import build_app
from slm_shared.testing.app_client import running_app
from slm_shared.testing.nats_server import NatsServer
from slm_shared.testing.ports import free_port
from slm_shared.testing.pytest_plugin import make_token

pytestmark = pytest.mark.timeout(400)
MONTH = timedelta(days=30)
SOURCE_STATE = "slm.measurement.source.state_changed"


def _history(name: str, per_minute: float, start: int, end: int):  # type: ignore[no-untyped-def]
    value = 0.0
    for stamp in range(start, end, 60):
        value += per_minute
        yield stamp, value


async def _objective(app, service_key: str, *, window: str, since: timedelta, both: bool = False):  # type: ignore[no-untyped-def]
    objective_id = str(uuid.uuid4())
    agreement = activation(
        service_key=service_key,
        objectives=[
            {
                "objective_id": objective_id,
                "indicator": "availability",
                "target": 0.98,
                "window": {"kind": "rolling", "duration": window},
            }
        ],
    )
    agreement = agreement.model_copy(update={"effective_from": datetime.now(UTC) - since})
    async with app.state.db.session() as session:
        await read_model.apply_activation(session, tenant="acme", agreement=agreement)
    return (objective_id, agreement.agreement_id) if both else objective_id


def _ratio(metric: str, step: str) -> dict[str, str]:
    return {
        "good_query": f'sum(increase({metric}{{code="200"}}[{step}]))',
        "total_query": f"sum(increase({metric}[{step}]))",
    }


async def test_prometheus_series_are_pulled_replayed_and_their_failures_told_apart(
    tmp_path: Path, database_url: str, nats_server: NatsServer
) -> None:
    found = binaries()
    if found is None:
        pytest.skip("no prometheus/promtool binary (tools/ensure-prometheus.sh installs Debian's prometheus)")
    prometheus_bin, promtool = found
    now = int(datetime.now(UTC).timestamp()) // 60 * 60
    start, end = now - int((MONTH + timedelta(days=1)).total_seconds()), now - 600
    backfill(
        promtool,
        tmp_path / "tsdb",
        {
            'shop_requests_total{code="200"}': _history("good", 99, start, end),
            'shop_requests_total{code="500"}': _history("bad", 1, start, end),
        },
    )
    stop = threading.Event()
    with Exporter() as exporter, Prometheus(prometheus_bin, tmp_path / "tsdb", exporter.address) as prometheus:

        def traffic() -> None:
            while not stop.wait(0.25):
                exporter.add('live_requests_total{code="200"}', 9)
                exporter.add('live_requests_total{code="500"}', 1)

        mover = threading.Thread(target=traffic, daemon=True)
        mover.start()
        settings = Settings(
            database_url=database_url,
            **nats_server.service_login("measurement"),
            environment="test",
            pull_interval_seconds=0.5,
        )
        app = build_app(settings)
        try:
            async with running_app(app, token=make_token("acme")) as client:
                created = await client.post(
                    "/v1/datasources", json={"name": "prom", "url": prometheus.url, "auth": {"bearer_token": "s3cret"}}
                )
                assert (
                    created.status_code == 201
                    and created.json()["authenticated"] is True
                    and "s3cret" not in created.text
                )
                down = await client.post(
                    "/v1/datasources", json={"name": "gone", "url": f"http://127.0.0.1:{free_port()}"}
                )
                assert down.status_code == 201

                # A month of history replayed into the rollups of a new objective's window.
                shop = await _objective(app, "shop", window="30d", since=MONTH + timedelta(hours=1))
                series = await client.post(
                    "/v1/pulled-series",
                    json={
                        "service": "shop",
                        "indicator": "availability",
                        "data_source": "prom",
                        "step_seconds": 300,
                        **_ratio("shop_requests_total", "5m"),
                    },
                )
                assert series.status_code == 201, series.text
                replay_from = datetime.fromtimestamp(now, tz=UTC) - MONTH
                replayed = await client.post(
                    f"/v1/pulled-series/{series.json()['id']}/replay", json={"start": replay_from.isoformat()}
                )
                assert replayed.status_code == 200, replayed.text
                assert replayed.json()["series"]["state"] == "ok"
                assert replayed.json()["points"] > 8_000  # about one per 5 minutes over 30 days
                state = (await client.post(f"/v1/objectives/{shop}/evaluate")).json()
                minutes = (end - replay_from.timestamp()) / 60
                assert abs(state["attainment"] - 0.99) < 0.001, state
                assert 0.98 * minutes * 100 <= state["total"] <= 1.01 * minutes * 100, (state["total"], minutes)
                again = await client.post(
                    f"/v1/pulled-series/{series.json()['id']}/replay", json={"start": replay_from.isoformat()}
                )
                assert again.json()["points"] == 0  # nothing counted twice
                assert (await client.post(f"/v1/objectives/{shop}/evaluate")).json()["total"] == state["total"]

                # Live traffic pulled on a schedule into the same rollups as pushed points.
                live = await _objective(app, "live", window="1h", since=timedelta(hours=2))
                body = {
                    "service": "live",
                    "indicator": "availability",
                    "data_source": "prom",
                    "step_seconds": 15,
                    **_ratio("live_requests_total", "15s"),
                }
                assert (await client.post("/v1/pulled-series", json=body)).status_code == 201

                async def pulled() -> dict | None:
                    evaluated = (await client.post(f"/v1/objectives/{live}/evaluate")).json()
                    return evaluated if evaluated["total"] > 0 else None

                live_state = await eventually(pulled, timeout=90, interval=1)
                assert abs(live_state["attainment"] - 0.9) < 0.05, live_state
                [source] = (await client.get(f"/v1/objectives/{live}/sources")).json()
                assert source["state"] == "ok" and source["pulled_until"] is not None

                # Three failures, three states: the source is down, the query is wrong, there is no data.
                failing = {
                    "down": {"data_source": "gone", **_ratio("live_requests_total", "15s")},
                    "typo": {"data_source": "prom", "good_query": "sum(", "total_query": "sum(live_requests_total)"},
                    "silent": {"data_source": "prom", **_ratio("nothing_here_total", "15s")},
                }
                objectives, agreements = {}, {}
                for key, extra in failing.items():
                    objectives[key], agreements[key] = await _objective(
                        app, key, window="1h", since=timedelta(hours=2), both=True
                    )
                    made = await client.post(
                        "/v1/pulled-series",
                        json={"service": key, "indicator": "availability", "step_seconds": 15, **extra},
                    )
                    assert made.status_code == 201, made.text

                async def states() -> dict | None:
                    seen = {
                        key: (await client.get(f"/v1/objectives/{oid}/sources")).json()[0]
                        for key, oid in objectives.items()
                    }
                    return seen if all(s["state"] != "pending" for s in seen.values()) else None

                seen = await eventually(states, timeout=60, interval=0.5)
                assert seen["down"]["state"] == "source_down", seen["down"]
                assert seen["typo"]["state"] == "query_error" and "parse" in seen["typo"]["detail"].lower(), seen[
                    "typo"
                ]
                assert seen["silent"]["state"] == "no_data", seen["silent"]

                # Each failure is told, once, to whoever follows the objective it feeds.
                js = (await nats.connect(nats_server.url)).jetstream()
                for key, state in (("down", "source_down"), ("typo", "query_error"), ("silent", "no_data")):
                    told = await eventually(
                        lambda key=key: stream_messages(js, SOURCE_STATE, agreements[key]), timeout=20
                    )
                    assert len(told) == 1, [m.data for m in told]
                    data = json.loads(told[0].data)
                    assert (data["state"], data["previous_state"], data["severity"]) == (state, "pending", "warning")
                    assert data["objective_id"] == objectives[key]
                await js._nc.close()
        finally:
            stop.set()
            mover.join(timeout=5)
        await asyncio.sleep(0)


async def test_pulled_series_refuse_what_they_cannot_pull(app_client) -> None:  # type: ignore[no-untyped-def]
    _, client = app_client
    assert (await client.post("/v1/datasources", json={"name": "p", "url": "ftp://x"})).status_code == 422
    assert (await client.post("/v1/datasources", json={"name": "p", "url": "http://127.0.0.1:9"})).status_code == 201
    both = {
        "service": "s",
        "indicator": "availability",
        "data_source": "p",
        "value_query": "x",
        "good_query": "y",
        "total_query": "z",
    }
    refused = await client.post("/v1/pulled-series", json=both)
    assert refused.status_code == 422 and "value_query stands alone" in refused.text
    unknown = {"service": "s", "indicator": "availability", "data_source": "nope", "value_query": "x"}
    refused = await client.post("/v1/pulled-series", json=unknown)
    assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "data_source"
