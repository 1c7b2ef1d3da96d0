"""In-process backend on the native store (:class:`fbacache._core.Store`).

The store holds the index, the deadlines, the counters, the metadata and its
own lock, and takes that lock itself inside each call: ``get`` is the store's
C method installed on the instance (no Python frame), and reads of plain keys
skip the lock where that is safe (see ``fbacache/_core/_store.pxi``).
Compound operations hold the same lock with ``with self._store:``. Items are
whatever the manager passes: bytes blobs, or the objects themselves with
serialization ``none`` (the in-process default).

The store's lock is re-entrant because the index runs a key's
``__hash__``/``__eq__`` while it is held: a key whose hash uses the same
manager (``set()`` of another key) re-enters from the same thread and must not
deadlock. The core is built to survive such re-entrant calls (see
:mod:`fbacache._core`), so the backend inherits the mapping classes' guarantee.

Sizes are the core's weights: the stored bytes, or the shallow
``sys.getsizeof`` of an object computed by the manager.
"""
from __future__ import annotations

import sys
import time
from typing import Any, Hashable, Iterable, Mapping, Optional

from fbacache._core import Store
from fbacache._util import MISSING
from fbacache.backends.base import Backend, BackendSettings
from fbacache.errors import ConfigError, EntryTooLarge, InvariantViolation
from fbacache.keys import compile_pattern

__all__ = ["MemoryBackend"]


def _atomic_reads(index: Any, timer: Any) -> bool:
    """True when a single lookup of a plain key cannot be interleaved with writers.

    It needs the compiled core (the twin runs Python code between its steps),
    a build with the GIL (free-threaded Python runs threads truly in parallel)
    and the native monotonic clock (an injected Python clock is Python code).
    The store decides the same (``Store.lock_free``); this states it for callers.
    """
    gil_enabled = getattr(sys, "_is_gil_enabled", lambda: True)()
    return (
        gil_enabled
        and type(index).__module__ == "fbacache._core._index_c"
        and (timer is None or timer is time.monotonic)
    )



class MemoryBackend(Backend):
    """Thread-safe store in this process, bounded by entries and/or bytes.

    >>> from fbacache.backends.base import BackendSettings
    >>> b = MemoryBackend(BackendSettings(max_entries=2))
    >>> b.set("a", 1, None, 1); b.set("b", 2, None, 1); b.set("c", 3, None, 1)
    >>> sorted(b.keys()), b.stats()["evictions"]
    (['b', 'c'], 1)
    """

    name = "memory"
    shared = False
    stores_objects = True

    def __init__(self, settings: BackendSettings) -> None:
        super().__init__(settings)
        if settings.options:  # a typo ({"max_entires": 5}) must not be silently ignored
            raise ConfigError("backend_config", "the memory backend takes no options, got "
                              f"{sorted(settings.options)}; its capacity is the manager's "
                              "max_entries / max_bytes")
        try:
            self._store = Store(settings.eviction_policy, max_entries=settings.max_entries,
                                max_weight=settings.max_bytes, timer=settings.timer,
                                seed=settings.seed)
        except ValueError as exc:
            raise ConfigError("eviction_policy", str(exc)) from exc
        self._index = self._store.index  # used only with the store's lock held
        self._timer = settings.timer
        self._manual_evictions = 0
        # Hot path: the store's own C method, no Python frame around it.
        self.get = self._store.get  # type: ignore[method-assign]

    @property
    def store(self) -> Any:
        """The :class:`fbacache._core.Store` (the manager's fast paths call it directly)."""
        return self._store

    # ------------------------------------------------------------------ reads
    def get(self, key: Hashable, default: Any = None) -> Any:
        """Stored item or ``default`` (counts a hit or a miss in the core).

        Instances replace this method by the store's own ``get`` (same behaviour).
        """
        return self._store.get(key, default)

    def peek(self, key: Hashable, default: Any = None) -> Any:
        """Stored item or ``default`` without policy update or counting."""
        return self._store.peek(key, default)

    def get_many(self, keys: Iterable[Hashable]) -> dict[Hashable, Any]:
        """Items of the present keys, under one lock acquisition."""
        out = {}
        with self._store as store:
            iget, meta = store.index.get, store.meta
            for k in keys:
                item = iget(k, MISSING)
                if item is not MISSING:
                    out[k] = item
                elif meta:
                    meta.pop(k, None)
        return out

    def contains(self, key: Hashable) -> bool:
        """Resident and not expired."""
        return bool(self._store.contains(key))

    def keys(self, pattern: Optional[str] = None) -> list[Hashable]:
        """Snapshot of the live keys (eviction order), optionally glob-filtered."""
        with self._store as store:
            snapshot = list(store.index.keys())
        if pattern is None:
            return snapshot
        match = compile_pattern(pattern)
        return [k for k in snapshot if isinstance(k, str) and match(k)]

    def ttl(self, key: Hashable) -> Optional[float]:
        """Remaining seconds, ``math.inf`` without expiry, None if missing."""
        remaining: Optional[float] = self._store.remaining(key)
        return remaining

    def get_metadata(self, key: Hashable) -> Optional[dict[str, Any]]:
        """Copy of the metadata of ``key`` ({} if none), None if missing."""
        meta: Optional[dict[str, Any]] = self._store.get_meta(key)
        return meta

    # ------------------------------------------------------------------ writes
    def set(self, key: Hashable, item: Any, ttl: Optional[float], size: int,
            metadata: Optional[Mapping[str, Any]] = None) -> None:
        """Insert or replace; evicts by policy until the entry fits."""
        try:
            self._store.set(key, item, size, ttl, dict(metadata) if metadata else None)
        except ValueError as exc:  # weight above max_weight
            raise EntryTooLarge(f"entry of {size} bytes exceeds max_bytes") from exc

    def set_many(self, items: Mapping[Hashable, tuple[Any, int]], ttl: Optional[float]) -> None:
        """Store all items under one lock acquisition, or none: EntryTooLarge if one
        is over ``max_bytes`` (checked before the first is stored)."""
        limit = self._index.max_weight  # fixed at construction: no lock needed to read it
        if limit is not None:
            for key, (_, size) in items.items():
                if size > limit:
                    raise EntryTooLarge(f"entry {key!r} of {size} bytes exceeds max_bytes "
                                        f"{limit}; none of the {len(items)} was stored")
        self._store.set_many([(k, item, size) for k, (item, size) in items.items()], ttl)

    def delete(self, key: Hashable) -> bool:
        """Remove ``key``; True if it was present."""
        return bool(self._store.delete(key))

    def delete_many(self, keys: Iterable[Hashable]) -> int:
        """Remove ``keys`` under one lock acquisition."""
        n = 0
        with self._store as store:
            delete, meta = store.index.delete, store.meta
            for k in keys:
                if meta:
                    meta.pop(k, None)
                if delete(k):
                    n += 1
        return n

    def discard_if(self, key: Hashable, item: Any) -> bool:
        """Remove ``key`` if it still holds exactly ``item`` (identity)."""
        return bool(self._store.discard_if(key, item))

    def touch(self, key: Hashable, ttl: Optional[float]) -> bool:
        """New deadline ``ttl`` seconds from now (None = never); False if missing."""
        return bool(self._store.touch(key, ttl))

    def clear(self) -> None:
        """Remove every entry."""
        self._store.clear()

    # ------------------------------------------------------------------ eviction control
    def evict(self, count: int) -> list[Hashable]:
        """Evict up to ``count`` entries in policy order (counted as evictions)."""
        with self._store as store:
            idx = store.index
            before = idx.evictions
            pairs = idx.evict(count)
            # count them once whether or not the core counts manual evictions
            self._manual_evictions += len(pairs) - (idx.evictions - before)
            if store.meta:
                for k, _ in pairs:
                    store.meta.pop(k, None)
        return [k for k, _ in pairs]

    def evict_keys(self, keys: Iterable[Hashable]) -> int:
        """Remove ``keys`` and count them as evictions."""
        n = self.delete_many(keys)
        with self._store:
            self._manual_evictions += n
        return n

    def set_probabilities(self, predictions: Mapping[Hashable, float]) -> int:
        """Assign probability-policy ranks to resident keys."""
        with self._store as store:
            return int(store.index.set_probabilities(predictions))

    # ------------------------------------------------------------------ housekeeping
    def expire(self) -> int:
        """Drop every expired entry now; the number dropped."""
        return int(self._store.expire())

    def stats(self) -> dict[str, Any]:
        """Core counters and sizes (expired entries are swept first)."""
        self._store.expire()
        with self._store as store:
            idx = store.index
            return {
                "hits": idx.hits, "misses": idx.misses,
                "evictions": idx.evictions + self._manual_evictions,
                "expirations": idx.expirations,
                "current_entries": len(idx), "current_size_bytes": idx.currsize,
            }

    def check(self) -> None:
        """Run the store's invariant checker, the capacity and metadata checks.

        Raises :class:`~fbacache.errors.InvariantViolation` (not ``assert``: the
        checks must still run under ``python -O``).
        """
        with self._store as store:
            idx = store.index
            try:
                store._check()
            except AssertionError as exc:
                raise InvariantViolation(f"memory backend store: {exc}") from exc
            problems = []
            if idx.max_entries is not None and len(idx) > idx.max_entries:
                problems.append(f"{len(idx)} entries, over max_entries {idx.max_entries}")
            if idx.max_weight is not None and idx.currsize > idx.max_weight:
                problems.append(f"{idx.currsize} bytes, over max_bytes {idx.max_weight}")
            if len(store.meta) > 2 * len(idx) + 64:
                problems.append(f"metadata not pruned ({len(store.meta)} records for "
                                f"{len(idx)} entries)")
            if store.meta and idx.on_evict is None:
                problems.append("metadata recorded but evictions do not drop it")
            if problems:
                raise InvariantViolation("memory backend: " + "; ".join(problems))

    def __len__(self) -> int:
        with self._store as store:
            return len(store.index)

    def close(self) -> None:
        """Drop all entries."""
        self.clear()
