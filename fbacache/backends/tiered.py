"""Two-tier backend (``backend_type='tiered'``): the native in-memory core (L1) in front of Redis (L2).

- **Reads** try L1, then L2 (``GET`` + ``PTTL`` in one round trip) and fill L1 with the
  remaining L2 TTL minus the time the read took, so an L1 entry never outlives its L2 entry
  (``l1_max_ttl`` caps it further, e.g. for keys without expiry).
- **Writes** go to L2 first (write-through; the invalidation message rides in the same
  pipeline), then L1 holds the new item, unless another write or invalidation of a key in the
  same stripe raced with it, in which case L1 simply forgets the key.
- **Other processes** drop their L1 copy when the message arrives
  (:mod:`fbacache.backends.redis.invalidation`). While the channel is down (not yet subscribed,
  server lost, no PONG) L1 is flushed and bypassed: reads go to L2, so a lost message can
  never leave a stale L1 entry behind.

Race-freedom of fills: a reader notes the generation of the key's stripe before reading L2
and fills L1 only if no invalidation or local write of that stripe happened meanwhile (both
bump the generation under the same lock that guards the fill).
"""
from __future__ import annotations

import math
import threading
import time
from typing import Any, Hashable, Iterable, Mapping, Optional

from fbacache._util import MISSING
from fbacache.backends.base import Backend, BackendSettings
from fbacache.backends.redis import forksafe
from fbacache.backends.redis.forksafe import fork_lock
from fbacache.backends.redis.invalidation import InvalidationBus
from fbacache.backends.memory import MemoryBackend
from fbacache.backends.redis.backend import RedisBackend

__all__ = ["TieredBackend"]

_STRIPES = 64


class TieredBackend(Backend):
    """L1 in this process (native core) + L2 in Redis, invalidated across processes.

    Options: those of the redis backend, plus ``l1_max_entries`` / ``l1_max_bytes``
    (default: the manager's ``max_entries`` / ``max_bytes``), ``l1_max_ttl`` (seconds an L1
    copy may live at most; None = up to the L2 TTL) and ``invalidation_ping_interval``.
    On Redis Cluster (Redis >= 7) the invalidation channel is a sharded one; see
    :mod:`fbacache.backends.redis.invalidation` and the sdist's docs/redis.md, "Redis Cluster".
    """

    name = "tiered"
    shared = True
    stores_objects = False

    def __init__(self, settings: BackendSettings) -> None:
        super().__init__(settings)
        self._l2 = RedisBackend(settings)
        self.options = self._l2.options
        self._build()

    def _build(self) -> None:
        s, opts = self.settings, self.options
        self._l1 = MemoryBackend(BackendSettings(
            max_entries=opts.l1_max_entries or s.max_entries,
            max_bytes=opts.l1_max_bytes or s.max_bytes, eviction_policy=s.eviction_policy,
            timer=s.timer, seed=s.seed))
        self._lock = threading.Lock()
        self._gens = [0] * _STRIPES
        self._l1_on = False
        self._forks = forksafe.generation
        self.bus = InvalidationBus(opts, self._l2.codec.channel, self._on_message,
                                   self._on_channel)
        self._l2._publish = self.bus.publish
        self.bus.start()

    # ------------------------------------------------------------------ plumbing
    @property
    def l2(self) -> RedisBackend:
        """The Redis tier (state, client, fallback figures)."""
        return self._l2

    @property
    def l1(self) -> MemoryBackend:
        """The in-process tier (for tests and introspection)."""
        return self._l1

    @property
    def l1_enabled(self) -> bool:
        """True while the invalidation channel is up (L1 is used)."""
        return self._l1_on

    def _check_pid(self) -> None:
        # A forked child has no subscriber thread and may have inherited our lock held:
        # it gets a fresh L1, lock and bus (with a new origin id) on its first call.
        if self._forks != forksafe.generation:  # an int, not a getpid() system call
            with fork_lock():
                if self._forks != forksafe.generation:
                    self._build()

    def _stripe(self, key: Hashable) -> int:
        return hash(key) % _STRIPES

    def _on_channel(self, up: bool) -> None:
        # Lost: flush and bypass L1 (messages may be lost from now on). Up: flush what may
        # have been filled in the meantime, then use L1 again.
        with self._lock:
            self._gens = [g + 1 for g in self._gens]
            self._l1.clear()
            self._l1_on = up

    def _on_message(self, rkeys: Optional[list[bytes]]) -> None:
        with self._lock:
            if rkeys is None:
                self._gens = [g + 1 for g in self._gens]
                self._l1.clear()
                return
            decode = self._l2.codec.decode
            for rkey in rkeys:
                key = decode(rkey)
                if key is not None:
                    self._gens[self._stripe(key)] += 1
                    self._l1.delete(key)

    def _l1_ttl(self, ttl: Optional[float], started: float) -> Optional[float]:
        cap = self.options.l1_max_ttl
        if ttl is None or ttl == math.inf:
            return cap
        left = ttl - (time.monotonic() - started)
        return left if cap is None else min(left, cap)

    def _fill(self, key: Hashable, item: Any, ttl: Optional[float], gen: int, started: float,
              metadata: Optional[Mapping[str, Any]] = None, size: Optional[int] = None) -> None:
        l1_ttl = self._l1_ttl(ttl, started)
        if l1_ttl is not None and l1_ttl <= 0:
            return
        slot = self._stripe(key)
        with self._lock:
            if self._l1_on and self._gens[slot] == gen:
                self._l1.set(key, item, l1_ttl, len(item) if size is None else size, metadata)
                return
            self._gens[slot] += 1
            self._l1.delete(key)

    def _forget(self, keys: Iterable[Hashable]) -> None:
        with self._lock:
            for key in keys:
                self._gens[self._stripe(key)] += 1
                self._l1.delete(key)

    # ------------------------------------------------------------------ reads
    def get(self, key: Hashable, default: Any = None) -> Any:
        """L1, else L2 (and fill L1); counts one hit or miss."""
        self._check_pid()
        if self._l1_on:
            item = self._l1.get(key, MISSING)
            if item is not MISSING:
                return item
        gen = self._gens[self._stripe(key)]
        started = time.monotonic()
        item, ttl = self._l2.get_with_ttl(key)
        if item is None:
            return default
        self._fill(key, item, ttl, gen, started)
        return item

    def peek(self, key: Hashable, default: Any = None) -> Any:
        """L1, else L2; no counting, no fill."""
        self._check_pid()
        if self._l1_on:
            item = self._l1.peek(key, MISSING)
            if item is not MISSING:
                return item
        return self._l2.peek(key, default)

    def get_many(self, keys: Iterable[Hashable]) -> dict[Hashable, Any]:
        """L1 hits, the rest from L2 in one round trip (filling L1)."""
        self._check_pid()
        keys = list(dict.fromkeys(keys))
        out = self._l1.get_many(keys) if self._l1_on else {}
        rest = [k for k in keys if k not in out]
        if not rest:
            return out
        gens = {k: self._gens[self._stripe(k)] for k in rest}
        started = time.monotonic()
        for key, (item, ttl) in self._l2.get_many_with_ttl(rest).items():
            out[key] = item
            self._fill(key, item, ttl, gens[key], started)
        return out

    def contains(self, key: Hashable) -> bool:
        """Asks L2 (authoritative)."""
        self._check_pid()
        return self._l2.contains(key)

    def keys(self, pattern: Optional[str] = None) -> list[Hashable]:
        """Keys in L2."""
        self._check_pid()
        return self._l2.keys(pattern)

    def ttl(self, key: Hashable) -> Optional[float]:
        """Remaining L2 TTL."""
        self._check_pid()
        return self._l2.ttl(key)

    def get_metadata(self, key: Hashable) -> Optional[dict[str, Any]]:
        """Metadata stored in L2."""
        self._check_pid()
        return self._l2.get_metadata(key)

    def get_entry(self, key: Hashable) -> Optional[tuple[Any, dict[str, Any]]]:
        """``(blob, metadata)`` from L2 (authoritative for metadata)."""
        self._check_pid()
        return self._l2.get_entry(key)

    def signing_context(self, key: Hashable) -> bytes:
        """The L2 namespace's context (L1 holds the same signed blobs)."""
        return self._l2.signing_context(key)

    # ------------------------------------------------------------------ writes
    def set(self, key: Hashable, item: Any, ttl: Optional[float], size: int,
            metadata: Optional[Mapping[str, Any]] = None) -> None:
        """Write-through: L2 (+ invalidation message), then L1."""
        self._check_pid()
        gen = self._gens[self._stripe(key)]
        started = time.monotonic()
        self._l2.set(key, item, ttl, size, metadata)
        self._fill(key, item, ttl, gen, started, metadata, size)
        with self._lock:  # our own write also invalidates concurrent readers' fills
            self._gens[self._stripe(key)] += 1

    def set_many(self, items: Mapping[Hashable, tuple[Any, int]], ttl: Optional[float]) -> None:
        """All items to L2 in one pipeline, then L1."""
        self._check_pid()
        gens = {k: self._gens[self._stripe(k)] for k in items}
        started = time.monotonic()
        self._l2.set_many(items, ttl)
        for key, (item, size) in items.items():
            self._fill(key, item, ttl, gens[key], started, None, size)
        self._forget_gens(items)

    def _forget_gens(self, keys: Iterable[Hashable]) -> None:
        with self._lock:
            for key in keys:
                self._gens[self._stripe(key)] += 1

    def delete(self, key: Hashable) -> bool:
        """Delete from L2 (+ message) and L1."""
        self._check_pid()
        removed = self._l2.delete(key)
        self._forget([key])
        return removed

    def delete_many(self, keys: Iterable[Hashable]) -> int:
        """Delete from L2 in one round trip, and from L1."""
        self._check_pid()
        keys = list(keys)
        n = self._l2.delete_many(keys)
        self._forget(keys)
        return n

    def discard_if(self, key: Hashable, item: Any) -> bool:
        """Drop a corrupt entry from L2 (if unchanged) and from L1."""
        self._check_pid()
        removed = self._l2.discard_if(key, item)
        self._forget([key])
        return removed

    def touch(self, key: Hashable, ttl: Optional[float]) -> bool:
        """New L2 expiry (+ message); the L1 copy is dropped (refilled with the new TTL)."""
        self._check_pid()
        found = self._l2.touch(key, ttl)
        self._forget([key])
        return found

    def clear(self) -> None:
        """Clear our prefix in L2 (+ a flush-everything message) and L1."""
        self._check_pid()
        self._l2.clear()
        with self._lock:
            self._gens = [g + 1 for g in self._gens]
            self._l1.clear()

    def evict_keys(self, keys: Iterable[Hashable]) -> int:
        """Delete ``keys`` everywhere, counted as evictions."""
        keys = list(keys)
        n = self._l2.evict_keys(keys)
        self._forget(keys)
        return n

    # ------------------------------------------------------------------ housekeeping
    def stats(self) -> dict[str, Any]:
        """L2 figures (hits include L1 hits) plus ``l1_*`` and ``invalidation_*``."""
        self._check_pid()
        out = self._l2.stats()
        l1 = self._l1.stats()
        out["hits"] = int(out["hits"]) + int(l1["hits"])
        out.update({
            "l1_hits": l1["hits"], "l1_entries": l1["current_entries"],
            "l1_size_bytes": l1["current_size_bytes"], "l1_evictions": l1["evictions"],
            "l1_enabled": self._l1_on,
            "invalidations_received": self.bus.received.value,
            "invalidation_channel_losses": self.bus.losses.value,
            "invalidation_malformed": self.bus.malformed.value,
        })
        return out

    def check(self) -> None:
        """Both tiers' invariants."""
        self._l1.check()
        self._l2.check()

    def suspend(self) -> None:
        """Stop the subscriber thread; L1 is flushed and bypassed until ``resume()``."""
        self._check_pid()
        self.bus.close()

    def resume(self) -> None:
        """Start the subscriber again; L1 is used once the channel is confirmed."""
        self._check_pid()
        self.bus.start()

    def close(self) -> None:
        """Stop the subscriber, close Redis, drop L1."""
        self.bus.close()
        self._l2.close()
        self._l1.clear()
