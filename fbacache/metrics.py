"""Cheap counters and the metrics snapshot of :class:`fbacache.CacheManager`.

Counting must never become the bottleneck, so nothing here takes a lock:

- hits, misses, evictions and expirations are the native core's C counters,
  updated while the backend already holds its lock for the lookup (exact);
- event counts kept by the manager (sets, deletes, prefetch...) are
  :class:`Counter` objects built on ``itertools.count``, whose ``next()`` is a
  single C call and therefore atomic under the GIL (exact, no lock);
- time and byte totals (codec timings, compression ratio) are plain float/int
  additions and may lose an update when two threads race on the same
  statement: they are statistics, documented as best effort.
"""
from __future__ import annotations

from collections import deque
from itertools import count, islice
from typing import Any, Mapping

__all__ = ["Counter", "read_count", "build_snapshot"]


def read_count(counter: "count[int]") -> int:
    """Current value of an ``itertools.count`` without advancing it.

    >>> c = count(); next(c); next(c); read_count(c)
    0
    1
    2
    """
    # repr is "count(N)"; it is the one read-only view that every Python keeps.
    return int(repr(counter)[6:-1])


class Counter:
    """A lock-free, thread-safe (under the GIL) monotonically increasing counter.

    >>> c = Counter(); _ = c.inc(); _ = c.inc(); c.value
    2
    """

    __slots__ = ("_c", "inc")

    def __init__(self) -> None:
        self._c = count()
        # ``inc`` is the bound C method itself: calling it costs one C call.
        self.inc = self._c.__next__

    def add(self, n: int) -> None:
        """Count ``n`` events at once (a batch), exactly: ``n`` steps of the counter taken
        in one C loop (``deque(islice(...), maxlen=0)`` consumes without storing).

        >>> c = Counter(); c.add(3); c.add(0); c.value
        3
        """
        if n > 0:
            deque(islice(self._c, n), maxlen=0)

    @property
    def value(self) -> int:
        """Number of events counted so far (``inc()`` calls plus what ``add`` counted)."""
        return read_count(self._c)


def _rate(num: int, den: int) -> float:
    return num / den if den else 0.0


def build_snapshot(backend: Mapping[str, Any], codec: Mapping[str, Any],
                   manager: Mapping[str, int]) -> dict[str, Any]:
    """Merge backend, codec and manager figures into the public metrics dict.

    ``backend`` must hold hits, misses, evictions, expirations, current_entries
    and current_size_bytes; ``codec`` holds the codec figures (may be empty when
    objects are stored as they are); ``manager`` holds the manager's counters.
    Corrupt entries were hits for the backend but misses for the caller.
    """
    corrupt = int(codec.get("corrupt_entries", 0)) + int(codec.get("signature_failures", 0))
    hits = max(0, int(backend["hits"]) - corrupt)
    misses = int(backend["misses"]) + corrupt
    sets = manager.get("sets", 0)
    deletes = manager.get("deletes", 0)
    loads = manager.get("prefetch_loads", 0)
    snap: dict[str, Any] = {
        "hits": hits,
        "misses": misses,
        "hit_rate": _rate(hits, hits + misses),
        "sets": sets,
        "deletes": deletes,
        "evictions": int(backend["evictions"]),
        "expirations": int(backend["expirations"]),
        "current_entries": int(backend["current_entries"]),
        "current_size_bytes": int(backend["current_size_bytes"]),
        "cache_operations": hits + misses + sets + deletes,
        "serialization_time_ms": 0.0,
        "deserialization_time_ms": 0.0,
        "compression_time_ms": 0.0,
        "decompression_time_ms": 0.0,
        "compression_ratio": 1.0,
        "compression_count": 0,
        "serialization_errors": 0,
        "compression_errors": 0,
        "corrupt_entries": 0,
        "signature_failures": 0,
    }
    snap.update(codec)
    snap.update(manager)
    snap["prefetch_hit_rate"] = _rate(manager.get("prefetch_hits", 0), loads)
    for key, value in backend.items():
        snap.setdefault(key, value)  # backend extras (e.g. redis state) without overriding
    return snap
