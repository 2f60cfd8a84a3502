"""The read pool's checks of the installed asyncpg: a release without what the pool relies on (the Protocol's
`_wait_for_cancellation` with a timeout, the Connection's `_protocol` slot) is found, named and logged once."""

from __future__ import annotations

import asyncpg
import pytest
from read_pool_helpers import ChangedProtocol

from slm_shared import read_connections, reads
from slm_shared.db import Database


async def test_a_changed_asyncpg_is_found_and_logged_once(
    monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture, items_db: Database
) -> None:
    assert read_connections.unsupported() is None  # the installed asyncpg has what `settle` relies on
    assert (await reads._postgres_pool(items_db.engine))._waits_on_the_protocol
    assert not [record for record in caplog.records if record.name == read_connections.__name__]
    monkeypatch.setattr(read_connections, "_protocol_class", lambda: ChangedProtocol)
    monkeypatch.setattr(read_connections, "_WARNED", set())
    pools = [await reads._postgres_pool(items_db.engine) for _ in range(2)]
    assert not any(pool._waits_on_the_protocol for pool in pools)
    (warning,) = [record for record in caplog.records if record.name == read_connections.__name__]
    assert warning.levelname == "WARNING" and "_wait_for_cancellation is gone" in warning.getMessage()
    for pool in pools:
        await pool.close()


async def _wait_without_a_timeout(self: object) -> None:
    """A `_wait_for_cancellation` that a release changed to take no timeout."""


@pytest.mark.parametrize(
    ("changed", "reason"),
    [
        (None, "Protocol is gone"),
        (type("Protocol", (), {"_wait_for_cancellation": lambda self, timeout=None: None}), "not a coroutine"),
        (type("Protocol", (), {"_wait_for_cancellation": _wait_without_a_timeout}), "no longer takes (self, timeout)"),
    ],
)
def test_a_changed_wait_for_cancellation_is_found(monkeypatch: pytest.MonkeyPatch, changed: type, reason: str) -> None:
    monkeypatch.setattr(read_connections, "_protocol_class", lambda: changed)
    found = read_connections.unsupported()
    assert found is not None and reason in found


def test_a_protocol_module_gone_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    """A release that renames asyncpg.protocol (or its Protocol) still starts: `unsupported` names what is gone."""
    real = read_connections.importlib.import_module

    def without_protocol(name: str) -> object:
        if name == "asyncpg.protocol":
            raise ModuleNotFoundError(name)
        return real(name)

    monkeypatch.setattr(read_connections.importlib, "import_module", without_protocol)
    assert read_connections.unsupported() == "asyncpg's asyncpg.protocol.Protocol is gone"
    monkeypatch.setattr(read_connections.importlib, "import_module", lambda name: object())
    assert read_connections.unsupported() == "asyncpg's asyncpg.protocol.Protocol is gone"


def test_a_connection_without_a_protocol_slot_is_found(monkeypatch: pytest.MonkeyPatch) -> None:
    assert "_protocol" in asyncpg.Connection.__slots__
    monkeypatch.setattr(asyncpg.Connection, "__slots__", ("_con",))
    assert read_connections.unsupported() == "asyncpg's Connection has no _protocol"
