"""The throwaway PostgreSQL server's set-up leaves nothing behind when this machine cannot run it."""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

import pytest

from slm_shared.testing.postgres import PostgresServer, postgres_bin_dir


def test_a_missing_system_user_leaves_no_folder(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """As root, a server whose system user does not exist raises KeyError before making its cluster's folder."""
    bin_dir = postgres_bin_dir()
    if bin_dir is None or not (bin_dir / "initdb").exists():
        pytest.skip("PostgreSQL server binaries not installed (`make postgres`)")
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))  # where its folder would be made
    monkeypatch.setattr(os, "geteuid", lambda: 0)  # as root, however the tests run
    with pytest.raises(KeyError):
        PostgresServer(system_user="slm-no-such-user")
    assert list(tmp_path.iterdir()) == []
