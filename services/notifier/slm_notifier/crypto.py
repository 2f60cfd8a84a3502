"""Credentials at rest: Fernet (AES-128-CBC + HMAC-SHA256) under a rotatable list of keys.

`NOTIFIER_SECRET_KEYS` lists Fernet keys, newest first: the first encrypts every write, any of them
decrypts. To rotate: put a new key first (keep the old ones), deploy, run `slm-notifier rekey`
(re-encrypts every stored credential under the first key), then drop the old keys.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from sqlalchemy import Dialect, Text
from sqlalchemy.types import TypeDecorator

# Public, like the development JWT secret: production refuses to start with it.
DEVELOPMENT_SECRET_KEY = base64.urlsafe_b64encode(hashlib.sha256(b"slm-notifier-development-secrets").digest()).decode()


class SecretUnreadable(Exception):
    """A stored credential that none of the configured keys decrypts."""


@dataclass(frozen=True)
class Keyring:
    """Fernet keys, the first encrypting and every one decrypting."""

    keys: tuple[str, ...]

    @classmethod
    def of(cls, keys: str) -> Keyring:
        """Parse comma-separated Fernet keys; ValueError names a malformed one by position."""
        listed = tuple(k.strip() for k in keys.split(",") if k.strip())
        if not listed:
            raise ValueError("NOTIFIER_SECRET_KEYS lists no key")
        for number, key in enumerate(listed, start=1):
            try:
                Fernet(key)
            except ValueError as exc:
                raise ValueError(
                    f"NOTIFIER_SECRET_KEYS key {number} is not a Fernet key (32 url-safe base64-encoded bytes)"
                ) from exc
        return cls(listed)

    @cached_property
    def _fernet(self) -> MultiFernet:
        return MultiFernet([Fernet(k) for k in self.keys])

    def uses(self, key: str) -> bool:
        return key in self.keys

    def encrypt(self, plaintext: str) -> str:
        return self._fernet.encrypt(plaintext.encode()).decode("ascii")

    def decrypt(self, token: str) -> str:
        try:
            return self._fernet.decrypt(token.encode("ascii")).decode()
        except (InvalidToken, UnicodeEncodeError) as exc:
            raise SecretUnreadable("a stored credential is not readable with any of NOTIFIER_SECRET_KEYS") from exc

    def is_current(self, token: str) -> bool:
        """Whether the first key encrypted `token` (rotation leaves such values alone)."""
        try:
            Fernet(self.keys[0]).decrypt(token.encode("ascii"))
        except (InvalidToken, UnicodeEncodeError):
            return False
        return True

    def rotate(self, token: str) -> str:
        """The same plaintext encrypted under the first key."""
        try:
            return self._fernet.rotate(token.encode("ascii")).decode("ascii")
        except (InvalidToken, UnicodeEncodeError) as exc:
            raise SecretUnreadable("a stored credential is not readable with any of NOTIFIER_SECRET_KEYS") from exc


class _Active:
    keyring: Keyring | None = None


def use_keyring(keyring: Keyring) -> None:
    """Make `keyring` the one the encrypted columns of this process use."""
    _Active.keyring = keyring


def active_keyring() -> Keyring:
    """The keyring in use: the one set at start-up, else the one the environment's settings give."""
    if _Active.keyring is None:
        from slm_notifier.config import Settings

        _Active.keyring = Settings().keyring
    return _Active.keyring


class EncryptedText(TypeDecorator[str]):
    """A string stored as a Fernet token."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else active_keyring().encrypt(value)

    def process_result_value(self, value: str | None, dialect: Dialect) -> str | None:
        return None if value is None else active_keyring().decrypt(value)


class EncryptedJSON(TypeDecorator[Any]):
    """A JSON document stored as a Fernet token."""

    impl = Text
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> str | None:
        if value is None:
            return None
        return active_keyring().encrypt(json.dumps(value, separators=(",", ":"), default=str))

    def process_result_value(self, value: str | None, dialect: Dialect) -> Any:
        return None if value is None else json.loads(active_keyring().decrypt(value))
