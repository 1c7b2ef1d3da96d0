"""While Redis is away: the local fallback store, what this process wrote to it, and the
reconcile once Redis is back.

:class:`~fbacache.backends.redis.fallback.FallbackGuard` decides when a call is answered
locally; :class:`Outage` answers it. Reads are counted as the Redis reads are (the same
counters). Writes go to the fallback store and their Redis keys to
:class:`~fbacache.backends.redis.fallback.DirtyKeys`. When Redis is reachable again,
:meth:`Outage.reconcile` *invalidates* those keys in Redis (never replays the values:
another process may have written fresher ones meanwhile), then empties the fallback.

>>> from fbacache.backends.base import BackendSettings
>>> outage = Outage(MemoryBackend(BackendSettings()), DirtyKeys(limit=100), Counter(), Counter())
>>> outage.write([b"fbacache:v2:app:s:a"], lambda: outage.store.set("a", b"blob", None, 4))
>>> outage.get("a", None, True), outage.get("b", None, True)
(b'blob', None)
>>> outage.hits.value, outage.misses.value, outage.dirty.take()
(1, 1, (False, [b'fbacache:v2:app:s:a']))
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Hashable, Optional

from fbacache._util import MISSING
from fbacache.backends.memory import MemoryBackend
from fbacache.backends.redis.fallback import DirtyKeys
from fbacache.backends.redis.keyspace import Keyspace, Publish
from fbacache.metrics import Counter

__all__ = ["Outage"]


class Outage:
    """The fallback ``store`` and the ``dirty`` keys of one process (a forked child builds
    its own); ``hits``/``misses`` are the backend's counters."""

    def __init__(self, store: MemoryBackend, dirty: DirtyKeys, hits: Counter,
                 misses: Counter) -> None:
        self.store = store
        self.dirty = dirty
        self.hits = hits
        self.misses = misses
        self._lock = threading.Lock()  # one reconcile at a time

    def get(self, key: Hashable, default: Any, count: bool) -> Any:
        """The fallback's blob of ``key`` or ``default``; counts a hit or a miss when ``count``."""
        item = self.store.peek(key, MISSING) if not count else self.store.get(key, MISSING)
        if item is MISSING:
            if count:
                self.misses.inc()
            return default
        if count:
            self.hits.inc()
        return item

    def get_many(self, keys: list[Hashable]) -> dict[Hashable, Any]:
        """The fallback's blobs of the present ``keys``; counts a hit or a miss per key."""
        out = self.store.get_many(keys)
        for _ in range(len(out)):
            self.hits.inc()
        for _ in range(len(set(keys)) - len(out)):
            self.misses.inc()
        return out

    def write(self, rkeys: list[bytes], fn: Callable[[], Any]) -> Any:
        """``fn()`` (a write to the fallback store), then remember ``rkeys`` as dirty."""
        result = fn()
        self.dirty.add(rkeys)
        return result

    def clear(self) -> None:
        """Empty the fallback; everything under our prefix must be invalidated in Redis."""
        self.store.clear()
        self.dirty.mark_all()

    def reconcile(self, keys: Keyspace, publish: Optional[Publish]) -> None:
        """Invalidate the dirty keys in Redis (all of our prefix after a :meth:`clear`),
        announced with ``publish``, then empty the fallback. On failure the keys stay dirty."""
        with self._lock:
            everything, rkeys = self.dirty.take()
            if everything or rkeys:
                try:
                    if everything:
                        keys.clear(publish)
                    else:
                        keys.unlink(rkeys, publish)
                except BaseException:
                    self.dirty.restore(everything, rkeys)
                    raise
                self.store.clear()
            self.dirty.settle()
