"""What the read pool's tests and its asyncpg-upgrade checks share besides the `items_db` fixture: a changed asyncpg."""

from __future__ import annotations


class ChangedProtocol:
    """asyncpg's Protocol as a release without `_wait_for_cancellation` would have it."""
