"""Change polling reads each open change's record with its own subscription's credentials, the id quoted in
the path, and never with the credentials of a disabled subscription."""

from __future__ import annotations

import base64

from fakes import change_table, serving

from slm_notifier.channels import SafeHttp
from slm_notifier.itsm.changes import ChangePoller, ChangeStore, change_key
from slm_notifier.models import OPEN, ExternalTicket, Subscription
from slm_notifier.signing import new_secret
from slm_shared.db import Database
from slm_shared.migrations import upgrade

ODD_ID = "chg/1 ?x#y"  # an id a tool (or a forged record) could hand back: not a path of its own


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


def login_of(headers: dict[str, str]) -> str:
    return base64.b64decode(headers.get("authorization", "Basic ").split(" ", 1)[1]).decode()


async def test_polling_quotes_the_change_id_and_skips_disabled_subscriptions(database_url: str) -> None:
    await upgrade("slm_notifier", database_url)
    db = Database(database_url)
    http = SafeHttp(allow_private_targets=True, timeout_seconds=5)
    try:
        async with serving(change_table()) as fake:
            fake.state["records"][ODD_ID] = {"sys_id": ODD_ID, "number": "CHG0000001", "state": "-2"}
            await open_change(db, "acme", fake.url, login=("svc", "pw"), enabled=True, ext=ODD_ID)
            await open_change(db, "acme", fake.url, login=("old", "secret"), enabled=False, ext="chg-2")
            moved = await ChangePoller(db, http, ChangeStore(db)).run_once()
        seen = [(r.raw_path, login_of(r.headers)) for r in fake.requests]
        assert seen == [("/api/now/table/change_request/chg%2F1%20%3Fx%23y", "svc:pw")]
        assert moved == 1  # the record was found under its own id and its new status told
    finally:
        await http.close()
        await db.dispose()
