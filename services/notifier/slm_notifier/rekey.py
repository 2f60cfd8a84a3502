"""`slm-notifier rekey`: re-encrypt every stored credential under the first of NOTIFIER_SECRET_KEYS."""

from __future__ import annotations

import argparse
import asyncio
import sys

import sqlalchemy as sa

from slm_notifier.config import Settings
from slm_notifier.crypto import Keyring
from slm_shared.db import Database

BATCH = 200
COLUMNS = ("target", "secret", "previous_secret")
# The stored text, not the decrypted value: rotation works on ciphertexts.
STORED = sa.table("subscriptions", sa.column("id", sa.String), *(sa.column(c, sa.Text) for c in COLUMNS))


async def rekey(db: Database, keyring: Keyring) -> int:
    """Re-encrypt, under the first key, each value another key encrypted; returns how many rows changed.

    Each batch is locked while it is rewritten (PostgreSQL), so a concurrent change waits and then reads
    the new ciphertext; the update also names the values read, so a write is never overwritten."""
    changed, after = 0, ""
    while True:
        async with db.session() as session:
            rows = (
                await session.execute(
                    sa.select(STORED).where(STORED.c.id > after).order_by(STORED.c.id).limit(BATCH).with_for_update()
                )
            ).all()
            for row in rows:
                old = {c: getattr(row, c) for c in COLUMNS}
                new = {c: keyring.rotate(v) for c, v in old.items() if v is not None and not keyring.is_current(v)}
                if not new:
                    continue
                held = [STORED.c[c] == v if v is not None else STORED.c[c].is_(None) for c, v in old.items()]
                result = await session.execute(sa.update(STORED).where(STORED.c.id == row.id, *held).values(**new))
                changed += int(result.rowcount or 0)  # type: ignore[attr-defined]  # DML gives a CursorResult; execute() is typed Result
        if len(rows) < BATCH:
            return changed
        after = rows[-1].id


async def _main(settings: Settings) -> int:
    db = Database(settings.resolved_database_url)
    try:
        return await rekey(db, settings.keyring)
    finally:
        await db.dispose()


def rekey_cli(settings: Settings, argv: list[str]) -> int:
    """Run `rekey` against the configured database and say how many subscriptions changed."""
    argparse.ArgumentParser(prog="slm-notifier rekey", description=__doc__).parse_args(argv)
    changed = asyncio.run(_main(settings))
    sys.stdout.write(f"re-encrypted {changed} subscription(s) under the first key\n")
    return 0
