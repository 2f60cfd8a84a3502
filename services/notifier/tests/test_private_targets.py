"""Where private targets are not allowed (production), they are refused at registration, in every form."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

PRIVATE_HOSTS = [
    "127.0.0.1",
    "10.0.0.1",
    "169.254.169.254",
    "[::1]",
    "localhost",
    "api.localhost",
    "0x7f000001",
    "2130706433",
    "[::ffff:127.0.0.1]",
    "[fd00::1]",
    "100.64.0.1",
    "[2002:7f00:1::1]",  # 6to4 of 127.0.0.1
    "[2001:0:4136:e378:8000:63bf:80ff:fffe]",  # Teredo client 127.0.0.1
    "[64:ff9b::a00:1]",  # NAT64 of 10.0.0.1
]
HOOK: dict[str, Any] = {"name": "ops", "event_types": ["slm.measurement.objective.*"]}


async def test_private_and_loopback_targets_are_refused_at_registration(make_client: Callable[..., Any]) -> None:
    async with make_client(allow_private_targets=False) as client:
        for host in PRIVATE_HOSTS:
            response = await client.post("/v1/subscriptions", json={**HOOK, "target": {"url": f"http://{host}/hook"}})
            assert response.status_code == 422, (host, response.text)
            assert response.json()["errors"][0]["field"] == "target.url", (host, response.json())
        snow = {"instance_url": "https://10.1.2.3", "username": "u", "password": "p"}
        refused = await client.post("/v1/subscriptions", json={**HOOK, "channel": "servicenow", "target": snow})
        assert refused.status_code == 422 and refused.json()["errors"][0]["field"] == "target.instance_url"
        public = await client.post("/v1/subscriptions", json={**HOOK, "target": {"url": "https://hooks.example/x"}})
        assert public.status_code == 201, public.text
        path = f"/v1/subscriptions/{public.json()['id']}"
        changed = await client.patch(path, json={"target": {"url": "http://127.0.0.1:9/x"}})
        assert changed.status_code == 422 and changed.json()["errors"][0]["field"] == "target.url"
        assert (await client.get("/v1/subscriptions")).json()["total"] == 1
