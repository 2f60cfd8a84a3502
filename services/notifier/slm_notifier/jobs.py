"""What the delivery worker reads besides its claims: whether anything is due, claimed deliveries with their
subscriptions, and the agreements the channels that render a message need."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Row

from slm_notifier import claims, repository
from slm_notifier.channels import Channel
from slm_notifier.compose import AgreementFacts
from slm_shared.db import Database

Agreements = dict[tuple[str, Any], AgreementFacts]


class JobReads:
    """Reads of committed rows, with no transaction of the worker's own: on SQLite inline on a read-only
    connection (no hop to the driver's thread, never behind a writer), on PostgreSQL on the read pool."""

    def __init__(self, db: Database, channels: dict[str, Channel]) -> None:
        self.db = db
        self.channels = channels

    async def due_or_next_lease_end(self, now: Any) -> tuple[bool, Any]:
        """Whether any delivery is due and, if none is, when the earliest claim held on one ends (or None), in one
        read snapshot."""

        def read(connection: Connection) -> tuple[bool, Any]:
            if connection.execute(claims.any_due_statement(now)).first() is not None:
                return True, None
            return False, connection.execute(claims.next_lease_end_statement(now)).scalar()

        return await self.db.reader.read(read)

    async def jobs(self, ids: list[str], tokens: set[str]) -> tuple[list[Row[Any]], Agreements]:
        """The claimed deliveries (only rows committed and still claimed by one of `tokens`: a rolled-back
        savepoint leaves none) and their agreements, in one read snapshot."""

        def read(connection: Connection) -> tuple[list[Row[Any]], Agreements]:
            jobs = [job for job in connection.execute(claims.jobs_statement(ids)) if job.claim_token in tokens]
            return jobs, self._agreements(connection, jobs)

        return await self.db.reader.read(read)

    async def agreements(self, jobs: list[Any]) -> Agreements:
        """The agreements of jobs already in hand (no read at all when no job's channel needs one)."""
        if not self._agreement_pairs(jobs):
            return {}
        return await self.db.reader.read(lambda connection: self._agreements(connection, jobs))

    def _agreements(self, connection: Connection, jobs: list[Any]) -> Agreements:
        pairs = self._agreement_pairs(jobs)
        rows = connection.execute(repository.agreements_statement(pairs)).all() if pairs else []
        return {
            (r.tenant, r.agreement_id): AgreementFacts(r.name, r.consumer_party_id, r.provider_party_id)
            for r in rows
            if (r.tenant, r.agreement_id) in pairs
        }

    def _agreement_pairs(self, jobs: list[Any]) -> set[tuple[str, str]]:
        """(tenant, agreement id) of the jobs whose channel reads the agreement."""
        return {
            (job.tenant, job.payload["agreement_id"])
            for job in jobs
            if self._needs_agreement(job.channel)
            and isinstance(job.payload, dict)
            and isinstance(job.payload.get("agreement_id"), str)
        }

    def _needs_agreement(self, channel_name: str | None) -> bool:
        """Only rendered messages and e-mail recipients read the agreement; a webhook carries the payload."""
        channel = self.channels.get(channel_name or "")
        return channel is not None and (getattr(channel, "needs_content", False) or channel.name == "email")


def agreement_of(agreements: Agreements, job: Any) -> AgreementFacts | None:
    """The job's agreement among `agreements` (None when its channel needs none or it is not known)."""
    return agreements.get((job.tenant, (job.payload or {}).get("agreement_id")))
