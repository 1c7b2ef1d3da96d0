"""Prefetch: a bounded priority queue of (endpoint, params) and a worker that loads them.

- Highest priority first; ties in arrival order.
- Duplicates (same cache key) are coalesced: the entry keeps the higher priority.
- Bounded: when full, a new item replaces the lowest-priority item only if it
  has a strictly higher priority; otherwise it is rejected (``push`` -> False).
- :class:`PrefetchWorker` pops items and calls ``load(item)`` on its own
  daemon thread; ``stop()`` wakes and joins it.
"""
from __future__ import annotations

import heapq
import itertools
import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Optional

from fbacache.keys import generate_cache_key

__all__ = ["PrefetchItem", "PrefetchQueue", "PrefetchWorker"]

log = logging.getLogger("fbacache.prefetch")


@dataclass
class PrefetchItem:
    """One queued request; ``key`` is ``generate_cache_key(endpoint, params)``."""

    endpoint: str
    params: Optional[Mapping[str, Any]]
    priority: float
    key: str
    seq: int = field(default=0, compare=False)

    def as_dict(self) -> dict[str, Any]:
        """Public form: endpoint, params, priority."""
        return {"endpoint": self.endpoint, "params": self.params, "priority": self.priority}


class PrefetchQueue:
    """Bounded, coalescing max-priority queue (thread-safe).

    >>> q = PrefetchQueue(maxsize=2)
    >>> q.push("/a", None, 0.2), q.push("/b", None, 0.9), q.push("/a", None, 0.5)
    (True, True, True)
    >>> [d["endpoint"] for d in q.snapshot()], q.push("/c", None, 0.1)
    (['/b', '/a'], False)
    """

    def __init__(self, maxsize: int = 1000) -> None:
        if maxsize <= 0:
            raise ValueError("maxsize must be positive")
        self.maxsize = maxsize
        self._items: dict[str, PrefetchItem] = {}
        self._heap: list[tuple[float, int, str]] = []  # (-priority, seq, key); lazy deletion
        self._seq = itertools.count()
        self._cond = threading.Condition(threading.Lock())
        self.rejected = 0

    def __len__(self) -> int:
        with self._cond:
            return len(self._items)

    def push(self, endpoint: str, params: Optional[Mapping[str, Any]] = None,
             priority: float = 0.5) -> bool:
        """Queue a request; False if the queue is full of higher-priority items."""
        key = generate_cache_key(endpoint, params)
        with self._cond:
            item = self._items.get(key)
            if item is not None:
                if priority > item.priority:  # coalesce, keeping the higher priority
                    item.priority = priority
                    item.seq = next(self._seq)
                    heapq.heappush(self._heap, (-priority, item.seq, key))
                return True
            if len(self._items) >= self.maxsize:
                lowest = min(self._items.values(), key=lambda it: (it.priority, -it.seq))
                if priority <= lowest.priority:
                    self.rejected += 1
                    return False
                del self._items[lowest.key]  # its heap entry is skipped lazily
                self.rejected += 1
            seq = next(self._seq)
            self._items[key] = PrefetchItem(endpoint, dict(params) if params else params,
                                            priority, key, seq)
            heapq.heappush(self._heap, (-priority, seq, key))
            if len(self._heap) > 4 * self.maxsize:
                self._compact()
            self._cond.notify()
            return True

    def _compact(self) -> None:
        self._heap = [(-it.priority, it.seq, k) for k, it in self._items.items()]
        heapq.heapify(self._heap)

    def _pop_locked(self) -> Optional[PrefetchItem]:
        while self._heap:
            _, seq, key = heapq.heappop(self._heap)
            item = self._items.get(key)
            if item is not None and item.seq == seq:
                del self._items[key]
                return item
        return None

    def pop(self, timeout: Optional[float] = 0.0) -> Optional[PrefetchItem]:
        """Highest-priority item, waiting up to ``timeout`` seconds (None = forever)."""
        with self._cond:
            if not self._items and timeout != 0.0:
                self._cond.wait(timeout)  # one wait: wake_all() must end it
            return self._pop_locked()

    def wake_all(self) -> None:
        """Wake threads blocked in :meth:`pop` (used on shutdown)."""
        with self._cond:
            self._cond.notify_all()

    def snapshot(self) -> list[dict[str, Any]]:
        """Queued requests as dicts, highest priority first."""
        with self._cond:
            items = sorted(self._items.values(), key=lambda it: (-it.priority, it.seq))
            return [it.as_dict() for it in items]

    def clear(self) -> None:
        """Drop every queued request."""
        with self._cond:
            self._items.clear()
            self._heap.clear()


class PrefetchWorker:
    """Daemon thread that pops items and calls ``load(item)``; errors are logged, not fatal."""

    def __init__(self, queue: PrefetchQueue, load: Callable[[PrefetchItem], None],
                 poll: float = 0.5) -> None:
        self._queue = queue
        self._load = load
        self._poll = poll
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="fbacache-prefetch", daemon=True)
        self.errors = 0

    def start(self) -> None:
        """Start the thread."""
        self._thread.start()

    @property
    def alive(self) -> bool:
        """True while the thread runs."""
        return self._thread.is_alive()

    def stop(self, timeout: Optional[float] = 5.0) -> None:
        """Ask the thread to finish its current item and exit; join it."""
        self._stop.set()
        self._queue.wake_all()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout)

    def _run(self) -> None:
        while not self._stop.is_set():
            item = self._queue.pop(timeout=self._poll)
            if item is None or self._stop.is_set():
                continue
            try:
                self._load(item)
            except Exception:  # a failing loader must not kill the worker
                self.errors += 1
                log.warning("prefetch of %s failed", item.endpoint, exc_info=True)
