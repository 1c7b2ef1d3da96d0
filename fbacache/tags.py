"""Tag index: which cached keys carry which tags, for ``invalidate_tags``.

``CacheManager.set(key, value, tags=[...])`` records the key under each tag;
``invalidate_tags(*tags)`` deletes every key recorded under any of them. The
index lives in this process (a shared backend's entries written by other
processes are not in it).

Consistency with the store:

- every write of a key replaces its tags (a write without tags drops them), and
  deletes, ``invalidate`` and ``clear`` drop them, so a key re-used after it
  left the cache never inherits old tags;
- entries that left the store silently (eviction, expiry) leave stale links;
  those are pruned in bulk once the index has doubled since the last prune,
  checking residency with the backend. The index therefore stays below
  ``2 * live tagged keys + 64`` entries (amortized O(1) per tagged write), and
  a stale link costs only a no-op delete if its tag is invalidated first.

The recording happens *after* the value is stored, so a concurrent
``invalidate_tags`` either removes the value or leaves it tagged (it behaves as
a write that came after the invalidation), never stored and untagged.

>>> idx = TagIndex()
>>> idx.tag("product:1", ["products", "vendor:7"]); idx.tag("product:2", ["products"])
>>> sorted(idx.pop_tags(["vendor:7"]))
['product:1']
>>> sorted(idx.keys_for("products")), idx.tags_of("product:1")
(['product:2'], frozenset())
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Hashable, Iterable

from fbacache.errors import InvariantViolation
from fbacache.log import get_logger

__all__ = ["TagIndex", "normalize_tags"]

_SLACK = 64

log = get_logger("tags")


def normalize_tags(tags: Iterable[str]) -> frozenset[str]:
    """``tags`` as a frozenset of non-empty strings; TypeError/ValueError otherwise."""
    if isinstance(tags, (str, bytes)):
        raise TypeError("tags must be an iterable of str, not a single str")
    out = frozenset(tags)
    for t in out:
        if not isinstance(t, str) or not t:
            raise ValueError(f"a tag must be a non-empty str, got {t!r}")
    return out


class TagIndex:
    """Thread-safe two-way map between keys and tags (see the module docstring)."""

    def __init__(self) -> None:
        # Re-entrant: set/dict operations here run a key's __hash__, which may use the
        # same manager (and so this index) from the same thread.
        self._lock = threading.RLock()
        self._by_tag: dict[str, set[Hashable]] = {}
        self._by_key: dict[Hashable, frozenset[str]] = {}
        self._after_prune = 0
        self.pruned = 0

    def __len__(self) -> int:
        return len(self._by_key)

    def __bool__(self) -> bool:
        return bool(self._by_key)

    def _unlink_locked(self, key: Hashable) -> None:
        old = self._by_key.pop(key, None)
        if old:
            for t in old:
                keys = self._by_tag.get(t)
                if keys is not None:
                    keys.discard(key)
                    if not keys:
                        del self._by_tag[t]

    def tag(self, key: Hashable, tags: Iterable[str]) -> None:
        """Make ``tags`` the tags of ``key`` (an empty iterable drops them)."""
        new = normalize_tags(tags)
        with self._lock:
            self._unlink_locked(key)
            if new:
                self._by_key[key] = new
                for t in new:
                    self._by_tag.setdefault(t, set()).add(key)

    def forget(self, key: Hashable) -> None:
        """Drop every tag of ``key``."""
        with self._lock:
            self._unlink_locked(key)

    def forget_many(self, keys: Iterable[Hashable]) -> None:
        """Drop every tag of each of ``keys``."""
        with self._lock:
            for k in keys:
                self._unlink_locked(k)

    def pop_tags(self, tags: Iterable[str]) -> list[Hashable]:
        """Remove and return the keys recorded under any of ``tags`` (all their links go)."""
        wanted = normalize_tags(tags)
        with self._lock:
            keys: set[Hashable] = set()
            for t in wanted:
                keys |= self._by_tag.get(t, set())
            for k in keys:
                self._unlink_locked(k)
        return list(keys)

    def keys_for(self, tag: str) -> list[Hashable]:
        """Keys recorded under ``tag`` (may include keys that left the store since)."""
        with self._lock:
            return list(self._by_tag.get(tag, ()))

    def tags_of(self, key: Hashable) -> frozenset[str]:
        """Tags recorded for ``key`` (empty if none)."""
        with self._lock:
            return self._by_key.get(key, frozenset())

    def clear(self) -> None:
        """Forget everything."""
        with self._lock:
            self._by_tag.clear()
            self._by_key.clear()
            self._after_prune = 0

    def needs_prune(self) -> bool:
        """True once the index has doubled (plus slack) since the last prune."""
        return len(self._by_key) > 2 * self._after_prune + _SLACK

    def prune(self, is_live: Callable[[Hashable], bool]) -> int:
        """Drop links of keys for which ``is_live(key)`` is False; the number dropped.

        ``is_live`` (a backend residency check) runs without the index lock; a key
        re-tagged meanwhile keeps its new tags.
        """
        with self._lock:
            snapshot = list(self._by_key.items())
        dead = [(k, tags) for k, tags in snapshot if not is_live(k)]
        with self._lock:
            n = 0
            for k, tags in dead:
                if self._by_key.get(k) is tags:  # not re-tagged since the snapshot
                    self._unlink_locked(k)
                    n += 1
            self._after_prune = len(self._by_key)
        self.pruned += n
        return n

    # ------------------------------------------------------------------ manager hooks
    def after_set(self, key: Hashable, tags: frozenset[str], backend: Any) -> None:
        """Record the tags of a key just stored (empty: drop its old ones); prune when due."""
        if not tags and not self._by_key:
            return
        self.tag(key, tags)
        if tags and self.needs_prune():
            n = self.prune(backend.contains)
            log.debug("pruned %d stale tag links (%d tagged keys left)", n, len(self))

    def invalidate(self, tags: Iterable[str], backend: Any) -> int:
        """Delete from ``backend`` every key recorded under any of ``tags``; number deleted."""
        keys = self.pop_tags(tags)
        n = backend.delete_many(keys) if keys else 0
        log.debug("invalidate_tags %s: %d keys removed", sorted(normalize_tags(tags)), n)
        return n

    def check(self) -> None:
        """Verify that both directions agree and no tag maps to an empty set.

        Raises :class:`~fbacache.errors.InvariantViolation` (explicitly, not with
        ``assert``, so that ``python -O`` does not turn the check into a no-op).
        """
        with self._lock:
            by_key, by_tag = list(self._by_key.items()), list(self._by_tag.items())
            for k, tags in by_key:
                if not tags:
                    raise InvariantViolation(f"empty tag set stored for {k!r}")
                for t in tags:
                    if k not in self._by_tag.get(t, ()):
                        raise InvariantViolation(f"{k!r} missing under tag {t!r}")
            for t, keys in by_tag:
                if not keys:
                    raise InvariantViolation(f"empty key set for tag {t!r}")
                for k in list(keys):
                    if t not in self._by_key.get(k, ()):
                        raise InvariantViolation(f"tag {t!r} missing for {k!r}")
