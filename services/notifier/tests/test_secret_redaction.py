"""Credentials at rest and on read: encrypted in the database under rotatable keys, hidden on every
read, kept when a read (or the `***` marker) comes back, and still good for signing and logging in."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path
from typing import Any

import httpx
from conftest import delivery_in
from cryptography.fernet import Fernet
from fakes import servicenow, serving
from receivers import Receiver
from sqlalchemy import text
from standardwebhooks import Webhook

from slm_notifier.config import Settings
from slm_notifier.crypto import DEVELOPMENT_SECRET_KEY, Keyring
from slm_notifier.main import build_app
from slm_notifier.rekey import rekey
from slm_shared import migrations
from slm_shared.db import Database
from slm_shared.testing.app_client import running_app
from slm_shared.testing.legacy_rows import insert_rows
from slm_shared.testing.pytest_plugin import make_token

TYPES = ["slm.measurement.objective.*"]
SNOW = {"instance_url": "https://acme.service-now.example", "username": "svc", "password": "s3cret-pw"}
JIRA = {
    "base_url": "https://acme.atlassian.example",
    "email": "bot@acme.example",
    "api_token": "jira-T0KEN-secret",
    "service_desk_id": "1",
    "request_type_id": "2",
}
PAGERDUTY = {"routing_key": "R0UTINGKEYSECRET"}
SLACK = {"url": "https://hooks.slack.example/services/T000/B000/XXXXSECRET"}
TEAMS = {"url": "https://acme.webhook.office.example/webhookb2/TEAMSSECRETPATH"}
CREDENTIALS = {
    "servicenow": (SNOW, "s3cret-pw"),
    "jira": (JIRA, "jira-T0KEN-secret"),
    "pagerduty": (PAGERDUTY, "R0UTINGKEYSECRET"),
    "slack": (SLACK, "XXXXSECRET"),
    "teams": (TEAMS, "TEAMSSECRETPATH"),
}


async def stored_row(database_url: str, subscription_id: str) -> dict[str, Any]:
    """The subscription's credential columns exactly as the database holds them."""
    db = Database(database_url)
    try:
        async with db.sessionmaker() as session:
            row = (
                await session.execute(
                    text("SELECT target, secret, previous_secret FROM subscriptions WHERE id = :id"),
                    {"id": subscription_id},
                )
            ).one()
            return dict(row._mapping)
    finally:
        await db.dispose()


async def stored_file_text(database_url: str) -> str:
    """Everything the subscriptions and idempotency tables hold, as text (SQLite: the whole database file)."""
    if database_url.startswith("sqlite"):
        path = Path(database_url.split("///", 1)[1])
        files = [path, path.with_name(path.name + "-wal")]  # the write-ahead log holds recent pages
        return "".join(f.read_bytes().decode("latin-1") for f in files if f.exists())
    db = Database(database_url)
    try:
        async with db.sessionmaker() as session:
            rows = [
                *(await session.execute(text("SELECT * FROM subscriptions"))).all(),
                *(await session.execute(text("SELECT * FROM idempotency_keys"))).all(),
            ]
            return json.dumps([list(map(str, r)) for r in rows])
    finally:
        await db.dispose()


async def create(client: httpx.AsyncClient, channel: str, target: dict[str, Any]) -> dict[str, Any]:
    created = await client.post(
        "/v1/subscriptions", json={"name": channel, "event_types": TYPES, "channel": channel, "target": target}
    )
    assert created.status_code == 201, created.text
    return dict(created.json())


async def test_no_credential_is_stored_or_read_in_plain_text(client: httpx.AsyncClient, database_url: str) -> None:
    keyring = Keyring.of(DEVELOPMENT_SECRET_KEY)
    signing: list[str] = []
    for channel, (target, credential) in CREDENTIALS.items():
        created = await create(client, channel, target)
        signing.append(created["secret"])
        assert credential not in json.dumps({k: v for k, v in created.items() if k != "secret"})
        path = f"/v1/subscriptions/{created['id']}"
        rotated = await client.post(f"{path}/rotate-secret")
        signing.append(rotated.json()["secret"])
        assert credential not in json.dumps({k: v for k, v in rotated.json().items() if k != "secret"})
        reads = [await client.get(path), await client.get("/v1/subscriptions")]
        reads.append(await client.patch(path, json={"name": "renamed"}))
        for read in reads:
            assert read.status_code == 200, read.text
            assert credential not in read.text and not any(s in read.text for s in signing)

        row = await stored_row(database_url, created["id"])
        assert credential in keyring.decrypt(row["target"]) and credential not in row["target"]
        assert keyring.decrypt(row["secret"]) == rotated.json()["secret"]
        assert keyring.decrypt(row["previous_secret"]) == created["secret"]
    body = {"name": "kept", "event_types": TYPES, "channel": "slack", "target": SLACK}
    key = {"Idempotency-Key": "create-once"}
    first = await client.post("/v1/subscriptions", json=body, headers=key)
    again = await client.post("/v1/subscriptions", json=body, headers=key)
    assert again.headers["idempotent-replayed"] == "true" and again.json() == first.json()
    signing.append(first.json()["secret"])

    everything = await stored_file_text(database_url)
    for _, credential in CREDENTIALS.values():
        assert credential not in everything
    for secret in signing:
        assert secret.removeprefix("whsec_") not in everything


async def test_a_read_or_the_marker_sent_back_keeps_the_stored_secret(
    client: httpx.AsyncClient, database_url: str
) -> None:
    keyring = Keyring.of(DEVELOPMENT_SECRET_KEY)
    for channel, (target, credential) in CREDENTIALS.items():
        created = await create(client, channel, target)
        path = f"/v1/subscriptions/{created['id']}"
        read = (await client.get(path)).json()
        changed = await client.patch(path, json={"name": "renamed", "target": read["target"]})
        assert changed.status_code == 200, changed.text
        assert credential not in changed.text
        marked = {k: ("***" if k in ("password", "api_token", "routing_key", "url") else v) for k, v in target.items()}
        assert (await client.patch(path, json={"target": marked})).status_code == 200
        row = await stored_row(database_url, created["id"])
        assert credential in keyring.decrypt(row["target"]), channel

    refused = await client.post(
        "/v1/subscriptions",
        json={"name": "x", "event_types": TYPES, "channel": "servicenow", "target": {**SNOW, "password": "***"}},
    )
    assert refused.status_code == 422 and refused.headers["content-type"] == "application/problem+json"
    assert [e["field"] for e in refused.json()["errors"]] == ["target.password"]

    created = await create(client, "servicenow", SNOW)
    path = f"/v1/subscriptions/{created['id']}"
    assert (await client.patch(path, json={"target": {**SNOW, "password": "new-pw"}})).status_code == 200
    row = await stored_row(database_url, created["id"])
    assert json.loads(keyring.decrypt(row["target"]))["password"] == "new-pw"


async def test_keys_rotate_and_deliveries_still_sign_and_log_in(make_client: Any, database_url: str) -> None:
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    async with serving(servicenow()) as snow, Receiver() as hook:
        async with make_client(secret_keys=old) as client:
            webhook = await create(client, "webhook", {"url": hook.url()})
            itsm = await create(client, "servicenow", {**SNOW, "instance_url": snow.url, "password": "pw"})
        first = await stored_row(database_url, webhook["id"])

        async with make_client(secret_keys=f"{new},{old}") as client:
            db = Database(database_url)
            try:
                assert await rekey(db, Keyring.of(f"{new},{old}")) == 2
                assert await rekey(db, Keyring.of(f"{new},{old}")) == 0  # nothing left under the old key
            finally:
                await db.dispose()
        rotated = await stored_row(database_url, webhook["id"])
        assert rotated["secret"] != first["secret"]
        assert Keyring.of(new).decrypt(rotated["secret"]) == webhook["secret"]

        async with make_client(secret_keys=new) as client:  # the old key is gone
            assert (await client.get(f"/v1/subscriptions/{itsm['id']}")).status_code == 200
            sent = (await client.post(f"/v1/subscriptions/{webhook['id']}/test")).json()
            assert (await delivery_in(client, sent["id"], "succeeded"))["status"] == "succeeded"
            (request,) = await hook.wait_for(1)
            assert Webhook(webhook["secret"]).verify(request.body, request.headers)["data"]["test"] is True
            checked = (await client.post(f"/v1/subscriptions/{itsm['id']}/test")).json()
            done = await delivery_in(client, checked["id"], "succeeded", "dead", "failed")
            assert done["status"] == "succeeded", done
            assert any(r.path == "/api/now/table/incident" for r in snow.requests)


async def test_the_migration_encrypts_rows_stored_in_plain_text(
    make_client: Any, database_url: str, tenant: str
) -> None:
    await migrations.upgrade("slm_notifier", database_url, "0002")
    plain_secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    subscription_id = "00000000-0000-0000-0000-000000000001"
    async with Receiver() as hook:
        row = {
            "id": subscription_id,
            "tenant": tenant,
            "name": "from before",
            "event_types": json.dumps(TYPES),
            "channel": "webhook",
            "target": json.dumps({"url": hook.url()}),
            "filters": "{}",
            "language": "en",
            "enabled": True,
            "secret": plain_secret,
            "version": 1,
        }
        await insert_rows(database_url, "subscriptions", [row])
        async with make_client() as client:  # start-up migrates to the newest schema
            stored = await stored_row(database_url, subscription_id)
            assert plain_secret not in str(stored) and hook.url() not in str(stored)
            keyring = Keyring.of(DEVELOPMENT_SECRET_KEY)
            assert keyring.decrypt(stored["secret"]) == plain_secret
            assert json.loads(keyring.decrypt(stored["target"])) == {"url": hook.url()}

            read = await client.get(f"/v1/subscriptions/{subscription_id}")
            assert read.status_code == 200 and read.json()["target"] == {"url": hook.url()}
            sent = (await client.post(f"/v1/subscriptions/{subscription_id}/test")).json()
            assert (await delivery_in(client, sent["id"], "succeeded"))["status"] == "succeeded"
            (request,) = await hook.wait_for(1)
            assert Webhook(plain_secret).verify(request.body, request.headers)["type"].endswith("test.v1")


async def test_rekey_waits_for_a_concurrent_change_and_keeps_it(postgres_url: str, tenant: str) -> None:
    """On PostgreSQL: a subscription being changed while the keys are rotated keeps the change, and
    ends up entirely under the new key."""
    old, new = Fernet.generate_key().decode(), Fernet.generate_key().decode()
    settings = Settings(database_url=postgres_url, environment="test", run_workers=False, secret_keys=old)
    async with running_app(build_app(settings), token=make_token(tenant)) as client:
        created = await create(client, "servicenow", SNOW)
    both = Keyring.of(f"{new},{old}")
    changed_target = json.dumps({**SNOW, "password": "changed-meanwhile"})
    writer, rotator = Database(postgres_url), Database(postgres_url)
    try:
        async with writer.sessionmaker() as session:
            await session.execute(
                text("UPDATE subscriptions SET target = :target WHERE id = :id"),
                {"target": both.encrypt(changed_target), "id": created["id"]},
            )
            rotation = asyncio.create_task(rekey(rotator, both))
            await asyncio.sleep(1.0)
            assert not rotation.done(), "the rotation must wait for the uncommitted change"
            await session.commit()
        assert await asyncio.wait_for(rotation, 30) == 1
    finally:
        await writer.dispose()
        await rotator.dispose()
    row = await stored_row(postgres_url, created["id"])
    only_new = Keyring.of(new)
    assert json.loads(only_new.decrypt(row["target"]))["password"] == "changed-meanwhile"
    assert only_new.decrypt(row["secret"]) == created["secret"]


async def test_a_webhook_url_hides_its_password_and_query_values_but_not_host_and_port(
    client: httpx.AsyncClient, database_url: str
) -> None:
    keyring = Keyring.of(DEVELOPMENT_SECRET_KEY)
    url = "http://user:pw-SECRET@hooks.example:8081/hook?token=tok-SECRET&team=ops"
    created = await create(client, "webhook", {"url": url})
    path = f"/v1/subscriptions/{created['id']}"
    shown = (await client.get(path)).json()["target"]
    assert shown["url"] == "http://user:***@hooks.example:8081/hook?token=***&team=***"
    assert "SECRET" not in (await client.get("/v1/subscriptions")).text
    kept = await client.patch(path, json={"name": "renamed", "target": shown})  # the read sent back: unchanged
    assert kept.status_code == 200, kept.text
    assert json.loads(keyring.decrypt((await stored_row(database_url, created["id"]))["target"]))["url"] == url
    moved = "http://hooks.example:8082/hook?token=other"
    assert (await client.patch(path, json={"target": {"url": moved}})).status_code == 200
    assert json.loads(keyring.decrypt((await stored_row(database_url, created["id"]))["target"]))["url"] == moved
    slack = await create(client, "slack", {"url": "https://hooks.slack.example:8443/services/T000/B000/XSECRET"})
    assert slack["target"]["url"] == "https://hooks.slack.example:8443/***"
