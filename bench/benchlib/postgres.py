"""Whether this machine can start the benches' PostgreSQL, and a bench's visible skip (exit 77) when it cannot."""

from __future__ import annotations

from slm_shared.testing.postgres import PostgresServer

SKIPPED = 77  # a bench's exit status when it skipped (as automake's tests): `make bench` lists it apart from failures


def postgres_missing() -> str | None:
    """Why no PostgreSQL can be started here (its server binaries or, as root, the postgres user missing), or None."""
    try:
        server = PostgresServer()  # finds what it needs; starts nothing
    except (FileNotFoundError, KeyError) as exc:
        return f"{exc}; `make postgres` installs it where it can"
    server.root.rmdir()  # the empty folder it made for a cluster
    return None


def exit_without_postgres(bench: str) -> None:
    """Ends the process with exit status `SKIPPED`, once it has said why, when `bench` needs a PostgreSQL this
    machine cannot start; returns otherwise."""
    reason = postgres_missing()
    if reason is not None:
        print(f"({bench} skipped: it needs PostgreSQL: {reason})")
        raise SystemExit(SKIPPED)
