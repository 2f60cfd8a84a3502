"""Attempt results written in groups: whoever arrives while a write runs goes into the next one."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from slm_notifier import repository
from slm_shared.db import Database, is_postgres
from slm_shared.tasks import stop_tasks


@dataclass(frozen=True)
class AttemptRecord:
    """One attempt's row, the delivery's new state, and whether its subscription must be disabled."""

    attempt: dict[str, Any]
    delivery_id: str
    claim_token: str
    state: dict[str, Any]
    disable_subscription: tuple[str, str] | None = None  # (subscription id, reason)
    now: datetime | None = None


class AttemptRecorder:
    """Group commit of attempt results: one transaction for every result that arrived meanwhile."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._pending: list[tuple[AttemptRecord, asyncio.Future[None]]] = []
        self._in_write: list[asyncio.Future[None]] = []  # the results of the group being written
        self._writer: asyncio.Task[None] | None = None

    async def record(self, item: AttemptRecord) -> None:
        """Store one result; returns once its transaction has committed."""
        future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        self._pending.append((item, future))
        if self._writer is None or self._writer.done():
            self._writer = asyncio.create_task(self._write_all(), name="attempt-recorder")
        await future

    def writing(self) -> bool:
        """Whether results handed over are not all written yet."""
        return bool(self._pending) or (self._writer is not None and not self._writer.done())

    async def flushed(self) -> None:
        """Return once every result handed over so far is written (or has failed).

        Results handed over meanwhile are not waited for: while attempts keep finishing the writer never
        goes idle, and a fresh delivery waiting for that (rather than for the answers received before it)
        waited for every answer after it too."""
        writer = self._writer
        handed_over = [*self._in_write, *(future for _, future in self._pending)]
        while writer is not None and not writer.done():
            unwritten = [future for future in handed_over if not future.done()]
            if not unwritten:
                return
            await asyncio.wait({writer, *unwritten}, return_when=asyncio.FIRST_COMPLETED)

    async def close(self, *, within: float) -> None:
        """Let results already handed over be written (within a bound), then stop the writer."""
        writer = self._writer
        if writer is None or writer.done():
            return
        await asyncio.wait({writer}, timeout=within)
        await stop_tasks([writer], grace_seconds=1.0)

    async def _write_all(self) -> None:
        while self._pending:
            batch, self._pending = self._pending, []
            self._in_write = [future for _, future in batch]
            try:
                await self._write([item for item, _ in batch])
            except Exception as exc:  # noqa: BLE001 - handed to every waiting attempt
                for _, future in batch:
                    if not future.done():
                        future.set_exception(exc)
            else:
                for _, future in batch:
                    if not future.done():
                        future.set_result(None)
            finally:
                self._in_write = []

    async def _write(self, items: list[AttemptRecord]) -> None:
        async with self.db.session() as session:
            if is_postgres(self.db.engine):
                await repository.record_and_finish(
                    session, [(item.attempt, item.delivery_id, item.claim_token, item.state) for item in items]
                )
            else:
                await repository.record_attempts(session, [item.attempt for item in items])
                await repository.finish_attempts(
                    session, [(item.delivery_id, item.claim_token, item.state) for item in items]
                )
            for item in items:
                if item.disable_subscription is not None and item.now is not None:
                    subscription_id, reason = item.disable_subscription
                    await repository.disable_subscription(
                        session, subscription_id=subscription_id, reason=reason, now=item.now
                    )
