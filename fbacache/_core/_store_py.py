"""The pure-Python twin of the compiled store: the reference for ``_store.pxi``.

(``_store.pxi`` is compiled into ``_index_c`` and re-exported by ``_store_c``.)

A ``Store`` is what an in-process cache front end needs from the core in one
object: an :class:`Index` (policy, deadlines, hit/miss/eviction/expiration
counters), the default TTL, a ``sets`` counter, per-key metadata and a lock.
Every method takes the lock itself, so a manager hit is one call. For
compound operations a caller holds the same lock with ``with store:`` and works
on ``store.index`` / ``store.meta`` directly. The lock is re-entrant: the index
runs a key's ``__hash__``/``__eq__`` with it held, and such code may call back
into the same store from the same thread (the index survives that).

Metadata: ``set(..., meta=m)`` records ``m`` for the key, a write without
``meta`` drops it, and an entry leaving (delete, eviction, expiry seen by a
sweep or a miss) drops it too, so a key never shows metadata of an older life.
Leftovers from entries that expired unseen are pruned in bulk (amortized O(1)).

Expired entries are swept every ``SWEEP_EVERY`` sets (amortized O(1)); the
compiled twin does the same at the same moments, so counters agree.

>>> s = Store("lru", max_entries=2, default_ttl=None)
>>> s.set("a", 1); s.set("b", 2, meta={"src": "db"}); s.get("a"), s.get_meta("b"), s.sets
(1, {'src': 'db'}, 2)
"""
from __future__ import annotations

import sys
import threading
import time
from typing import Any, Callable, Dict, Hashable, List, Optional, Tuple

from ._index_py import Index
from ._memo_py import MemoCall
from ._reader_py import KeywordCall, Reader, load_frames, strip_marker  # pair: _reader.pxi

__all__ = ["Store", "Put", "GetOr", "Reader", "MemoCall", "DEFAULT", "SWEEP_EVERY", "load_frames",
           "strip_marker", "KeywordCall"]

SWEEP_EVERY = 256  # sets between two sweeps of expired entries


class _Default:
    """Sentinel type of :data:`DEFAULT`: "use the store's default TTL"."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "DEFAULT"


DEFAULT: Any = _Default()
_MISSING: Any = object()


_PLAIN = (str, int, float, bytes, bool, type(None))


def _plain(key: Any, depth: int) -> bool:
    """True for keys whose hash and equality are C code: exact str, int, float, bytes,
    bool, None and tuples of those (the compiled store reads them without its lock)."""
    t = type(key)
    if t in _PLAIN:
        return True
    if t is tuple and depth < 3:
        return all(_plain(item, depth + 1) for item in key)
    return False


class Store:
    """Thread-safe index + TTLs + counters + metadata behind one lock (see the module doc).

    ``Store(policy, max_entries=None, max_weight=None, timer=time.monotonic,
    seed=None, default_ttl=None)``: the first five are :class:`Index`'s;
    ``default_ttl`` (seconds or None = never) is what ``set`` uses when no
    ``ttl`` is given. Raises ``ValueError`` for an unknown policy.
    """

    # The twin runs Python code between its steps: every read takes the lock.
    lock_free = False

    def __init__(self, policy: str = "lru", max_entries: Optional[int] = None,
                 max_weight: Optional[int] = None, timer: Callable[[], float] = time.monotonic,
                 seed: Optional[int] = None, default_ttl: Optional[float] = None) -> None:
        self.index = Index(policy, max_entries=max_entries, max_weight=max_weight,
                           timer=timer, seed=seed)
        self.timer = timer
        self.default_ttl = default_ttl
        self.meta: Dict[Hashable, Dict[str, Any]] = {}
        self.sets = 0
        self.mixed = False  # a key that is not plain was stored since clear() (see _store_c)
        self._since_sweep = 0
        self._lock = threading.RLock()  # re-entrant: see the module docstring

    # ------------------------------------------------------------------ lock
    def __enter__(self) -> "Store":
        self._lock.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._lock.release()

    # ------------------------------------------------------------------ reads
    def get(self, key: Hashable, default: Any = None) -> Any:
        """Value of ``key`` (a hit for the policy and the counters) or ``default``."""
        with self._lock:
            value = self.index.get(key, _MISSING)
            if value is _MISSING:
                if self.meta:
                    self.meta.pop(key, None)  # it may have just expired
                return default
            return value

    def peek(self, key: Hashable, default: Any = None) -> Any:
        """Value of ``key`` or ``default``, with no policy update and nothing counted."""
        with self._lock:
            value = self.index.peek(key, _MISSING)
            if value is _MISSING:
                if self.meta:
                    self.meta.pop(key, None)
                return default
            return value

    def contains(self, key: Hashable) -> bool:
        """True if ``key`` is resident and not expired (nothing counted)."""
        with self._lock:
            return self._contains_locked(key)

    def _contains_locked(self, key: Hashable) -> bool:
        if self.index.contains(key):
            return True
        if self.meta:
            self.meta.pop(key, None)
        return False

    def get_meta(self, key: Hashable) -> Optional[Dict[str, Any]]:
        """Copy of the metadata of a resident key ({} if none), None if absent."""
        with self._lock:
            if not self._contains_locked(key):
                return None
            return dict(self.meta.get(key, ()))

    def remaining(self, key: Hashable) -> Optional[float]:
        """Seconds until ``key`` expires (``inf`` without a deadline), None if absent."""
        with self._lock:
            if not self._contains_locked(key):
                return None
            deadline = self.index.expiry(key)
        if deadline is None:
            return float("inf")
        return max(0.0, deadline - self.timer())

    # ------------------------------------------------------------------ writes
    def _deadline(self, ttl: Any) -> Optional[float]:
        if ttl is DEFAULT:
            ttl = self.default_ttl
        return None if ttl is None else self.timer() + ttl

    def set(self, key: Hashable, value: Any, weight: int = 1, ttl: Any = DEFAULT,
            meta: Optional[Dict[str, Any]] = None) -> None:
        """Insert or replace ``key`` for ``ttl`` seconds (DEFAULT: ``default_ttl``; None: never).

        ``meta`` (a dict, kept as given) replaces the key's metadata; None drops it.
        Raises ``ValueError`` (nothing changed) if ``weight`` can never fit.
        """
        deadline = self._deadline(ttl)
        with self._lock:
            self.index.set(key, value, weight, deadline)
            self._after_set_locked(key, meta)

    def _after_set_locked(self, key: Hashable, meta: Optional[Dict[str, Any]]) -> None:
        if not self.mixed and not _plain(key, 0):
            self.mixed = True
        if meta is not None:
            if not self.meta:
                self.index.on_evict = self._evicted
            self.meta[key] = meta
            if len(self.meta) > 2 * len(self.index) + 64:
                index = self.index
                # contains() runs the key's __hash__, which may re-enter and write meta:
                # iterate over a snapshot.
                self.meta = {k: v for k, v in list(self.meta.items()) if index.contains(k)}
        elif self.meta:
            self.meta.pop(key, None)
        self.sets += 1
        self._since_sweep += 1
        if self._since_sweep >= SWEEP_EVERY:
            self._since_sweep = 0
            self._sweep_locked()

    def set_many(self, items: List[Tuple[Hashable, Any, int]], ttl: Any = DEFAULT) -> None:
        """``set`` of every ``(key, value, weight)`` with one deadline, under one lock hold.

        Stops at the first item that can never fit (``ValueError``); those before it stay.
        """
        deadline = self._deadline(ttl)
        with self._lock:
            for key, value, weight in items:
                self.index.set(key, value, weight, deadline)
                self._after_set_locked(key, None)

    def _evicted(self, key: Hashable, value: Any) -> None:
        # The index calls this inside set(), i.e. with our lock held.
        self.meta.pop(key, None)

    def touch(self, key: Hashable, ttl: Any = DEFAULT) -> bool:
        """New deadline ``ttl`` seconds from now (DEFAULT / None as in ``set``); False if absent."""
        deadline = self._deadline(ttl)
        with self._lock:
            if not self._contains_locked(key):
                return False
            return bool(self.index.set_expiry(key, deadline))

    def delete(self, key: Hashable) -> bool:
        """Remove ``key``; True if it was resident."""
        with self._lock:
            if self.meta:
                self.meta.pop(key, None)
            return bool(self.index.delete(key))

    def discard_if(self, key: Hashable, value: Any) -> bool:
        """Remove ``key`` only if it still holds exactly ``value`` (identity)."""
        with self._lock:
            if self.index.peek(key, _MISSING) is not value:
                return False
            if self.meta:
                self.meta.pop(key, None)
            return bool(self.index.delete(key))

    def clear(self) -> None:
        """Remove every entry and all metadata (counters are kept)."""
        with self._lock:
            self.index.clear()
            self.meta.clear()
            self.mixed = False

    # ------------------------------------------------------------------ housekeeping
    def _sweep_locked(self) -> int:
        expired = self.index.expire()
        if self.meta:
            for k, _ in expired:
                self.meta.pop(k, None)
        return len(expired)

    def expire(self) -> int:
        """Drop every expired entry now; the number dropped."""
        with self._lock:
            return self._sweep_locked()

    def _check(self) -> None:
        """Verify the index and the metadata bookkeeping (AssertionError if broken)."""
        with self._lock:
            self.index._check()
            assert len(self.meta) <= 2 * len(self.index) + 64, "metadata not pruned"
            assert (self.index.on_evict is not None) or not self.meta, "metadata without on_evict"


class Put:
    """``put(key, value)``: ``store.set`` weighed by ``sys.getsizeof``, with the default TTL.

    The default write of a front end that stores objects as they are: one call,
    no Python frame in the compiled twin. ``Put(store, max_size, slow)``: a call
    with any other argument, a value whose shallow size is over ``max_size`` (or
    over the store's ``max_weight``) goes to ``slow(key, value, *args, **kwargs)``,
    which owns the errors (so both twins raise the front end's own exceptions).

    >>> s = Store("lru"); put = Put(s, 1 << 20, lambda *a, **k: "slow")
    >>> put("a", 1), put("b", 2, 30), s.get("a"), s.sets
    (True, 'slow', 1, 1)
    """

    def __init__(self, store: Store, max_size: int, slow: Callable[..., Any]) -> None:
        self.store = store
        limit = store.index.max_weight  # fixed for the store's life: folded in once
        self.max_size = max_size if limit is None else min(max_size, limit)
        self.slow = slow

    def __call__(self, key: Hashable, value: Any, *args: Any, **kwargs: Any) -> Any:
        if args or kwargs:
            return self.slow(key, value, *args, **kwargs)
        size = sys.getsizeof(value)
        if size > self.max_size:
            return self.slow(key, value)
        self.store.set(key, value, size)
        return True

    @property
    def method(self) -> Callable[..., Any]:
        """This callable as a method (the compiled twin's is a builtin method, which the
        interpreter calls faster than an object): ``put.method.__self__`` is ``put``."""
        return self.__call__


class GetOr:
    """``get_or(key, factory)``: the value of a resident ``key`` in one call, else
    ``missed(key, factory)`` (the miss counted once, by this lookup); a call with
    any other argument goes to ``slow(key, factory, *args, **kwargs)``.

    >>> s = Store("lru"); s.set("a", 1)
    >>> g = GetOr(s, lambda k, f: f(), lambda *a, **k: "slow")
    >>> g("a", list), g("b", lambda: 2), g("a", list, 5), s.index.misses
    (1, 2, 'slow', 1)
    """

    def __init__(self, store: Store, missed: Callable[[Hashable, Callable[[], Any]], Any],
                 slow: Callable[..., Any]) -> None:
        self.store = store
        self.missed = missed
        self.slow = slow

    def __call__(self, key: Hashable, factory: Callable[[], Any], *args: Any,
                 **kwargs: Any) -> Any:
        if args or kwargs:
            return self.slow(key, factory, *args, **kwargs)
        value = self.store.get(key, _MISSING)
        if value is _MISSING:
            return self.missed(key, factory)
        return value

    @property
    def method(self) -> Callable[..., Any]:
        """This callable as a method (see :attr:`Put.method`): ``get_or.method.__self__``
        is ``get_or``."""
        return self.__call__
