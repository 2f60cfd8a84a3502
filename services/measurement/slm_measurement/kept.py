"""A cache that, when full, keeps what it holds: for what a pass looks up in the same order pass after pass.

A pass meets the same entries (an agreement's stored versions, an instant's text) in the same order every time,
so the least recently used is the next one needed: an LRU cache would drop exactly that entry and, once a pass
looks up one entry more than it holds, never hit. When full (entries, or their total weight), this one keeps what
it holds and its user works the rest out. It starts over only when, of as many lookups as it holds, more missed
than hit (entries no longer looked up give way to those looked up now).
"""

from __future__ import annotations

from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class KeptWhenFull(Generic[K, V]):
    """Up to `max_entries` values by key, and up to `max_weight` of their weights in all (None: unbounded).

    `get` counts a hit, `keep` a miss when full; once they number as many as it holds, the cache decides whether to
    start over (more missed than hit) and counts afresh.
    """

    __slots__ = ("entries", "hits", "max_entries", "max_weight", "misses", "weight")

    def __init__(self, max_entries: int, max_weight: int | None = None) -> None:
        self.entries: dict[K, V] = {}
        self.max_entries = max_entries
        self.max_weight = max_weight
        self.weight = 0
        self.hits = self.misses = 0

    def __len__(self) -> int:
        return len(self.entries)

    def get(self, key: K) -> V | None:
        """The value kept for `key` (a hit), None when none is."""
        if (found := self.entries.get(key)) is not None:
            self.hits += 1
        return found

    def keep(self, key: K, value: V, weight: int = 0) -> None:
        """Keep `value` (weighing `weight`) unless full; starts over when full and more missed than hit.

        A value weighing more than the whole bound is never kept (nor counted).
        """
        max_weight = self.max_weight
        if max_weight is not None and weight > max_weight:
            return
        entries = self.entries
        if len(entries) >= self.max_entries or (max_weight is not None and self.weight + weight > max_weight):
            self.misses += 1
            if self.hits + self.misses < len(entries):
                return
            restart = self.misses > self.hits
            self.hits = self.misses = 0
            if not restart:
                return
            entries.clear()
            self.weight = 0
        entries[key] = value
        self.weight += weight
