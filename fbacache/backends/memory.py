"""In-process backend on the native core (:class:`fbacache._core.Index`).

One :class:`threading.RLock` guards the index; it is held only for the index
operation itself (never while encoding, decoding or running a factory, which
the manager does outside any backend call). It is re-entrant because the index
runs the key's ``__hash__``/``__eq__`` while it is held: a key whose hash uses
the same manager (``set()`` of another key) re-enters from the same thread and
must not deadlock. The core is built to survive such re-entrant calls (see
:mod:`fbacache._core`), so the backend inherits the mapping classes' guarantee.
Items are whatever the manager passes: bytes blobs, or the objects themselves
with serialization ``none``.

Sizes are the core's weights: the stored bytes, or the shallow
``sys.getsizeof`` of an object computed by the manager.
"""
from __future__ import annotations

import math
import sys
import threading
import time
from typing import Any, Callable, Hashable, Iterable, Mapping, Optional

from fbacache._core import Index
from fbacache._util import MISSING
from fbacache.backends.base import Backend, BackendSettings
from fbacache.errors import ConfigError, EntryTooLarge, InvariantViolation
from fbacache.keys import compile_pattern

__all__ = ["MemoryBackend"]


def _atomic_reads(index: Any, timer: Any) -> bool:
    """True when a single lookup of a ``str`` key cannot be interleaved with writers.

    It needs the compiled core (the twin runs Python code between its steps),
    a build with the GIL (free-threaded Python runs threads truly in parallel)
    and the native monotonic clock (an injected Python clock is Python code).
    """
    gil_enabled = getattr(sys, "_is_gil_enabled", lambda: True)()
    return (
        gil_enabled
        and type(index).__module__ == "fbacache._core._index_c"
        and (timer is None or timer is time.monotonic)
    )

_SWEEP_EVERY = 256  # sets between two sweeps of expired entries (amortized O(1))


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
            self._index = Index(settings.eviction_policy, max_entries=settings.max_entries,
                                max_weight=settings.max_bytes, timer=settings.timer,
                                seed=settings.seed)
        except ValueError as exc:
            raise ConfigError("eviction_policy", str(exc)) from exc
        self._timer = settings.timer
        self._lock = threading.RLock()  # re-entrant: see the module docstring
        # User metadata of the entries that have some. Every write of a key replaces
        # or drops its metadata and readers check residency, so a key that expired
        # or was evicted never shows stale metadata; leftovers are pruned in bulk
        # (amortized O(1)) by _prune_meta_locked.
        self._meta: dict[Hashable, dict[str, Any]] = {}
        self._manual_evictions = 0
        self._sets = 0
        self._index.on_evict = self._on_evict
        # Hot path: one Python frame around three C calls (lock, lookup, unlock).
        self.get = self._make_get()  # type: ignore[method-assign]

    def _contains_locked(self, key: Hashable) -> bool:
        if self._index.contains(key):
            return True
        if self._meta:
            self._meta.pop(key, None)  # it may have just expired
        return False

    def _on_evict(self, key: Hashable, value: Any) -> None:
        # Called by the core inside set()/evict(), i.e. with our lock held.
        if self._meta:
            self._meta.pop(key, None)

    # ------------------------------------------------------------------ reads
    def get(self, key: Hashable, default: Any = None) -> Any:
        """Stored item or ``default`` (counts a hit or a miss in the core).

        Instances replace this method by the closure built in :meth:`_make_get`
        (same behaviour, no attribute lookups on the hot path).
        """
        with self._lock:
            return self._index.get(key, default)

    def _make_get(self) -> Callable[..., Any]:
        acquire, release, iget = self._lock.acquire, self._lock.release, self._index.get

        def get(key: Hashable, default: Any = None) -> Any:
            """Stored item or ``default`` (counts a hit or a miss in the core)."""
            acquire()
            try:
                return iget(key, default)
            finally:
                release()

        if not _atomic_reads(self._index, self._timer):
            return get
        locked_get = get

        def atomic_get(key: Hashable, default: Any = None) -> Any:
            """Stored item or ``default``; ``str`` keys are read without the lock.

            With the GIL, one call into the compiled index that runs no Python code
            is atomic: a ``str`` key's hash and equality are C code, the clock is
            the native monotonic one, and the index releases departing objects
            only once it is consistent.  Every other key type takes the lock.
            """
            if type(key) is str:
                return iget(key, default)
            return locked_get(key, default)

        return atomic_get

    def peek(self, key: Hashable, default: Any = None) -> Any:
        """Stored item or ``default`` without policy update or counting."""
        with self._lock:
            item = self._index.peek(key, MISSING)
            if item is MISSING:
                if self._meta:
                    self._meta.pop(key, None)
                return default
            return item

    def get_many(self, keys: Iterable[Hashable]) -> dict[Hashable, Any]:
        """Items of the present keys, under one lock acquisition."""
        out = {}
        with self._lock:
            iget = self._index.get
            for k in keys:
                item = iget(k, MISSING)
                if item is not MISSING:
                    out[k] = item
                elif self._meta:
                    self._meta.pop(k, None)
        return out

    def contains(self, key: Hashable) -> bool:
        """Resident and not expired."""
        with self._lock:
            return self._contains_locked(key)

    def keys(self, pattern: Optional[str] = None) -> list[Hashable]:
        """Snapshot of the live keys (eviction order), optionally glob-filtered."""
        with self._lock:
            snapshot = list(self._index.keys())
        if pattern is None:
            return snapshot
        match = compile_pattern(pattern)
        return [k for k in snapshot if isinstance(k, str) and match(k)]

    def ttl(self, key: Hashable) -> Optional[float]:
        """Remaining seconds, ``math.inf`` without expiry, None if missing."""
        with self._lock:
            if not self._contains_locked(key):
                return None
            deadline = self._index.expiry(key)
        if deadline is None:
            return math.inf
        return max(0.0, deadline - self._timer())

    def get_metadata(self, key: Hashable) -> Optional[dict[str, Any]]:
        """Copy of the metadata of ``key`` ({} if none), None if missing."""
        with self._lock:
            if not self._contains_locked(key):
                return None
            return dict(self._meta.get(key, ()))

    # ------------------------------------------------------------------ writes
    def set(self, key: Hashable, item: Any, ttl: Optional[float], size: int,
            metadata: Optional[Mapping[str, Any]] = None) -> None:
        """Insert or replace; evicts by policy until the entry fits."""
        deadline = None if ttl is None else self._timer() + ttl
        meta = dict(metadata) if metadata else None
        with self._lock:
            try:
                self._index.set(key, item, size, deadline)
            except ValueError as exc:  # weight above max_weight
                raise EntryTooLarge(f"entry of {size} bytes exceeds max_bytes") from exc
            if meta is not None:
                self._meta[key] = meta
                if len(self._meta) > 2 * len(self._index) + 64:
                    self._prune_meta_locked()
            elif self._meta:
                self._meta.pop(key, None)
            self._sets += 1
            if self._sets >= _SWEEP_EVERY:
                self._sets = 0
                self._sweep_locked()

    def set_many(self, items: Mapping[Hashable, tuple[Any, int]], ttl: Optional[float]) -> None:
        """Store all items under one lock acquisition, or none: EntryTooLarge if one
        is over ``max_bytes`` (checked before the first is stored)."""
        deadline = None if ttl is None else self._timer() + ttl
        with self._lock:
            limit = self._index.max_weight
            if limit is not None:
                for key, (_, size) in items.items():
                    if size > limit:
                        raise EntryTooLarge(f"entry {key!r} of {size} bytes exceeds max_bytes "
                                            f"{limit}; none of the {len(items)} was stored")
            iset = self._index.set
            meta = self._meta
            for key, (item, size) in items.items():
                iset(key, item, size, deadline)
                if meta:
                    meta.pop(key, None)

    def delete(self, key: Hashable) -> bool:
        """Remove ``key``; True if it was present."""
        with self._lock:
            if self._meta:
                self._meta.pop(key, None)
            return bool(self._index.delete(key))

    def delete_many(self, keys: Iterable[Hashable]) -> int:
        """Remove ``keys`` under one lock acquisition."""
        n = 0
        with self._lock:
            delete, meta = self._index.delete, self._meta
            for k in keys:
                if meta:
                    meta.pop(k, None)
                if delete(k):
                    n += 1
        return n

    def discard_if(self, key: Hashable, item: Any) -> bool:
        """Remove ``key`` if it still holds exactly ``item`` (identity)."""
        with self._lock:
            if self._index.peek(key, MISSING) is not item:
                return False
            if self._meta:
                self._meta.pop(key, None)
            return bool(self._index.delete(key))

    def touch(self, key: Hashable, ttl: Optional[float]) -> bool:
        """New deadline ``ttl`` seconds from now (None = never); False if missing."""
        deadline = None if ttl is None else self._timer() + ttl
        with self._lock:
            if not self._contains_locked(key):
                return False
            return bool(self._index.set_expiry(key, deadline))

    def clear(self) -> None:
        """Remove every entry."""
        with self._lock:
            self._index.clear()
            self._meta.clear()

    # ------------------------------------------------------------------ eviction control
    def evict(self, count: int) -> list[Hashable]:
        """Evict up to ``count`` entries in policy order (counted as evictions)."""
        with self._lock:
            before = self._index.evictions
            pairs = self._index.evict(count)
            # count them once whether or not the core counts manual evictions
            self._manual_evictions += len(pairs) - (self._index.evictions - before)
            if self._meta:
                for k, _ in pairs:
                    self._meta.pop(k, None)
        return [k for k, _ in pairs]

    def evict_keys(self, keys: Iterable[Hashable]) -> int:
        """Remove ``keys`` and count them as evictions."""
        n = self.delete_many(keys)
        with self._lock:
            self._manual_evictions += n
        return n

    def set_probabilities(self, predictions: Mapping[Hashable, float]) -> int:
        """Assign probability-policy ranks to resident keys."""
        with self._lock:
            return int(self._index.set_probabilities(predictions))

    # ------------------------------------------------------------------ housekeeping
    def _prune_meta_locked(self) -> None:
        index = self._index
        # ``k in index`` runs the key's __hash__, which may re-enter and write _meta:
        # iterate over a snapshot.
        self._meta = {k: v for k, v in list(self._meta.items()) if k in index}

    def _sweep_locked(self) -> int:
        expired = self._index.expire()
        if self._meta:
            for k, _ in expired:
                self._meta.pop(k, None)
        return len(expired)

    def expire(self) -> int:
        """Drop every expired entry now; the number dropped."""
        with self._lock:
            return self._sweep_locked()

    def stats(self) -> dict[str, Any]:
        """Core counters and sizes (expired entries are swept first)."""
        with self._lock:
            self._sweep_locked()
            idx = self._index
            return {
                "hits": idx.hits, "misses": idx.misses,
                "evictions": idx.evictions + self._manual_evictions,
                "expirations": idx.expirations,
                "current_entries": len(idx), "current_size_bytes": idx.currsize,
            }

    def check(self) -> None:
        """Run the core's invariant checker and the metadata bookkeeping checks.

        Raises :class:`~fbacache.errors.InvariantViolation` (not ``assert``: the
        checks must still run under ``python -O``).
        """
        with self._lock:
            idx = self._index
            try:
                idx._check()
            except AssertionError as exc:
                raise InvariantViolation(f"memory backend index: {exc}") from exc
            problems = []
            if idx.max_entries is not None and len(idx) > idx.max_entries:
                problems.append(f"{len(idx)} entries, over max_entries {idx.max_entries}")
            if idx.max_weight is not None and idx.currsize > idx.max_weight:
                problems.append(f"{idx.currsize} bytes, over max_bytes {idx.max_weight}")
            if len(self._meta) > 2 * len(idx) + 64:
                problems.append(f"metadata not pruned ({len(self._meta)} records for "
                                f"{len(idx)} entries)")
            if problems:
                raise InvariantViolation("memory backend: " + "; ".join(problems))

    def __len__(self) -> int:
        with self._lock:
            return len(self._index)

    def close(self) -> None:
        """Drop all entries."""
        self.clear()
