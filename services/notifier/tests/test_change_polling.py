"""Change polling reads each open change's record with its own subscription's credentials, the id quoted in
the path, and never with the credentials of a disabled subscription."""

from __future__ import annotations

import base64
from typing import Any

from fakes import Fake, serving
from fastapi import FastAPI, HTTPException, Request

from slm_notifier.channels import SafeHttp
from slm_notifier.itsm.changes import ChangePoller, ChangeStore, change_key
from slm_notifier.models import OPEN, ExternalTicket, Subscription
from slm_notifier.signing import new_secret
from slm_shared.db import Database
from slm_shared.migrations import upgrade

ODD_ID = "chg/1 ?x#y"  # an id a tool (or a forged record) could hand back: not a path of its own


def change_records() -> Fake:
    """ServiceNow's `GET /api/now/table/change_request/{sys_id}`, recording the raw path and the login."""
    fake = Fake(FastAPI())
    fake.state["records"] = {ODD_ID: {"sys_id": ODD_ID, "number": "CHG0000001", "state": "-2"}}
    fake.state["seen"] = []

    @fake.app.get("/api/now/table/change_request/{sys_id:path}")
    async def read(sys_id: str, request: Request) -> dict[str, Any]:
        login = base64.b64decode(request.headers.get("authorization", "Basic ").split(" ", 1)[1]).decode()
        fake.state["seen"].append((request.scope["raw_path"].decode(), login))
        if login != "svc:pw" or sys_id not in fake.state["records"]:
            raise HTTPException(404)
        return {"result": fake.state["records"][sys_id]}

    return fake


async def open_change(db: Database, tenant: str, url: str, *, login: tuple[str, str], enabled: bool, ext: str) -> None:
    """A subscription and the change it raised, as `ChangeStore.raised` leaves them."""
    user, password = login
    subscription = Subscription(
        tenant=tenant, name=f"changes {user}", event_types=["slm.agreements.change.requested.v1"],
        channel="servicenow", target={"instance_url": url, "username": user, "password": password},
        enabled=enabled, secret=new_secret(),
    )  # fmt: skip
    async with db.session() as session:
        session.add(subscription)
        await session.flush()
        session.add(
            ExternalTicket(
                tenant=tenant, subscription_id=subscription.id, system="servicenow", correlation_key=change_key(ext),
                external_id=ext, state=OPEN, external_status="new",
                context={"change_request_id": f"cr-{ext}", "action_id": ext, "agreement_id": "agr-1"},
            )
        )  # fmt: skip


async def test_polling_quotes_the_change_id_and_skips_disabled_subscriptions(database_url: str) -> None:
    await upgrade("slm_notifier", database_url)
    db = Database(database_url)
    http = SafeHttp(allow_private_targets=True, timeout_seconds=5)
    try:
        async with serving(change_records()) as fake:
            await open_change(db, "acme", fake.url, login=("svc", "pw"), enabled=True, ext=ODD_ID)
            await open_change(db, "acme", fake.url, login=("old", "secret"), enabled=False, ext="chg-2")
            moved = await ChangePoller(db, http, ChangeStore(db)).run_once()
        assert fake.state["seen"] == [("/api/now/table/change_request/chg%2F1%20%3Fx%23y", "svc:pw")]
        assert moved == 1  # the record was found under its own id and its new status told
    finally:
        await http.close()
        await db.dispose()
