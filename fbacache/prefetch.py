"""Prefetch: a bounded priority queue of (endpoint, params) and a worker that loads them.

- Highest priority first; ties in arrival order.
- Duplicates (same cache key) are coalesced: the entry keeps the higher priority.
- Bounded: when full, a new item replaces the lowest-priority item only if it
  has a strictly higher priority; otherwise it is rejected (``push`` -> False).
- :class:`PrefetchWorker` pops items and calls ``load(item)`` on its own
  daemon thread; ``stop()`` wakes and joins it.
- :class:`Prefetcher` is the component :class:`fbacache.CacheManager` composes: the queue, the
  worker and the prefetch counters.  It knows nothing about the manager; it is handed the two
  callables it needs (``load(key, fetch)``, i.e. ``get_or_set``, and ``on_first_use()``).
"""
from __future__ import annotations

import heapq
import itertools
import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Callable, Hashable, Mapping, Optional

from fbacache._util import MISSING
from fbacache._validate import check_number
from fbacache.keys import generate_cache_key
from fbacache.metrics import Counter

__all__ = ["Loader", "PrefetchItem", "PrefetchQueue", "PrefetchWorker", "Prefetcher"]

#: ``loader(endpoint, params)`` returns the value to cache for a queued request.
Loader = Callable[[str, Optional[Mapping[str, Any]]], Any]

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


class Prefetcher:
    """Prefetch for a cache front end: queue requests, load them through ``load``, count hits.

    ``load(key, fetch)`` must return the cached value of ``key`` or store ``fetch()`` (the
    manager passes its ``get_or_set``, so a request is never loaded twice nor over a fresh
    value).  ``on_first_use()`` is called when prefetch is first used (a request queued or a
    worker started) so the front end can start counting prefetch hits; it may be called more
    than once by racing threads and must be idempotent.  No lock is held while calling either.

    >>> store = {}
    >>> p = Prefetcher(8, load=lambda k, fetch: store.setdefault(k, fetch()),
    ...                on_first_use=lambda: None)
    >>> p.push("/price", {"asin": "B1"}, 0.9), p.process(lambda endpoint, params: 19.99)
    (True, 1)
    >>> p.served(next(iter(store))), p.snapshot()["prefetch_hits"]
    (True, 1)
    """

    def __init__(self, queue_size: int, load: Callable[[Hashable, Callable[[], Any]], Any],
                 on_first_use: Callable[[], None]) -> None:
        self.queue = PrefetchQueue(queue_size)
        self._load_key = load
        self._on_first_use = on_first_use
        # prefetched keys not read yet -> counts prefetch_hits; bounded, pruned on read/overwrite
        self.prefetched: dict[Hashable, None] = {}
        self._cap = max(1024, 4 * queue_size)
        self.used = False
        self.requests = Counter()
        self.loads = Counter()
        self.hits = Counter()
        self._lock = threading.Lock()  # guards _worker
        self._worker: Optional[PrefetchWorker] = None

    def _mark_used(self) -> None:
        if not self.used:
            self.used = True
            self._on_first_use()

    def push(self, endpoint: str, params: Optional[Mapping[str, Any]] = None,
             priority: float = 0.5) -> bool:
        """Queue a request; False if the bounded queue rejected it.

        Raises ConfigError('priority') unless ``priority`` is a number in [0, 1].
        """
        check_number(priority, "priority", minimum=0.0, maximum=1.0)
        self._mark_used()
        accepted = self.queue.push(endpoint, params, float(priority))
        if accepted:
            self.requests.inc()
        return accepted

    @staticmethod
    def request_args(item: Any) -> tuple[Any, ...]:
        """``(endpoint, params, priority)`` of a request given as a dict or as a tuple.

        >>> Prefetcher.request_args({"endpoint": "/a", "priority": 0.9})
        ('/a', None, 0.9)
        """
        if isinstance(item, Mapping):
            return item["endpoint"], item.get("params"), item.get("priority", 0.5)
        return tuple(item)

    def _load(self, item: PrefetchItem, loader: Loader) -> None:
        loaded = []

        def fetch() -> Any:
            loaded.append(True)
            return loader(item.endpoint, item.params)

        self._load_key(item.key, fetch)
        if loaded:  # this call ran the loader: the entry is a prefetched one
            self.loads.inc()
            self.prefetched[item.key] = None
            while len(self.prefetched) > self._cap:
                try:
                    self.prefetched.pop(next(iter(self.prefetched)), None)
                except (StopIteration, RuntimeError):  # emptied/changed concurrently
                    break

    def process(self, loader: Loader, max_items: Optional[int] = None) -> int:
        """Load queued requests in this thread with ``loader(endpoint, params)``; number loaded."""
        done = 0
        while max_items is None or done < max_items:
            item = self.queue.pop()
            if item is None:
                break
            self._load(item, loader)
            done += 1
        return done

    @property
    def worker_running(self) -> bool:
        """True while a background worker is attached."""
        return self._worker is not None

    def start_worker(self, loader: Loader) -> None:
        """Start a background thread loading queued requests; RuntimeError if one runs."""
        # hit counting is switched on before the worker can store anything
        self._mark_used()
        with self._lock:
            if self._worker is not None:
                raise RuntimeError("a prefetch worker is already running")
            self._worker = PrefetchWorker(self.queue, lambda item: self._load(item, loader))
            self._worker.start()

    def stop_worker(self) -> None:
        """Stop the background worker, if any (joins it)."""
        with self._lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.stop()

    def served(self, key: Hashable) -> bool:
        """Count a read of ``key``: True (and a prefetch hit) if it was prefetched, unread."""
        if self.prefetched.pop(key, MISSING) is MISSING:
            return False
        self.hits.inc()
        return True

    def snapshot(self) -> dict[str, int]:
        """Counters for ``get_metrics``."""
        return {"prefetch_requests": self.requests.value, "prefetch_loads": self.loads.value,
                "prefetch_hits": self.hits.value, "prefetch_queue_size": len(self.queue),
                "prefetch_rejected": self.queue.rejected}
