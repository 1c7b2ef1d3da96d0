"""The prefetch half of :class:`fbacache.CacheManager` (a mixin, kept apart to keep
``manager.py`` small): queueing ``(endpoint, params)`` requests and loading them
with a loader, in the calling thread or on a background worker, through
``get_or_set`` (so never twice, and never over a fresh value).

The state (``_queue``, ``_worker``, ``_prefetched``...) is created by
``CacheManager.__init__``; see docs/manager.md, "Prefetch".
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Hashable, Iterable, Mapping, Optional

from fbacache._validate import check_number
from fbacache.metrics import Counter
from fbacache.prefetch import PrefetchItem, PrefetchQueue, PrefetchWorker

__all__ = ["Loader", "PrefetchMixin"]

Loader = Callable[[str, Optional[Mapping[str, Any]]], Any]


class PrefetchMixin:
    """Prefetch methods of CacheManager (uses its queue, worker and counters)."""

    _queue: PrefetchQueue
    _worker: Optional[PrefetchWorker]
    _prefetched: dict[Hashable, None]
    _prefetched_cap: int
    _prefetch_used: bool
    _prefetch_requests: Counter
    _prefetch_loads: Counter
    _state_lock: threading.Lock
    _check: Callable[[], None]
    _install_fast_path: Callable[[], None]
    get_or_set: Callable[..., Any]

    def prefetch(self, endpoint: str, params: Optional[Mapping[str, Any]] = None,
                 priority: float = 0.5) -> bool:
        """Queue ``endpoint``/``params`` for loading; False if the bounded queue rejected it."""
        self._check()
        check_number(priority, "priority", minimum=0.0, maximum=1.0)
        if not self._prefetch_used:
            with self._state_lock:
                self._prefetch_used = True
                self._install_fast_path()
        accepted = self._queue.push(endpoint, params, float(priority))
        if accepted:
            self._prefetch_requests.inc()
        return accepted

    def prefetch_many(self, items: Iterable[Any]) -> int:
        """Queue many requests: dicts with endpoint/params/priority or tuples; number accepted."""
        n = 0
        for it in items:
            if isinstance(it, Mapping):
                ok = self.prefetch(it["endpoint"], it.get("params"), it.get("priority", 0.5))
            else:
                ok = self.prefetch(*it)
            n += ok
        return n

    def get_prefetch_queue(self) -> list[dict[str, Any]]:
        """Queued requests (endpoint, params, priority), highest priority first."""
        return self._queue.snapshot()

    def _load(self, item: PrefetchItem, loader: Loader) -> None:
        loaded = []

        def fetch() -> Any:
            loaded.append(True)
            return loader(item.endpoint, item.params)

        self.get_or_set(item.key, fetch)
        if loaded:  # this call ran the loader: the entry is a prefetched one
            self._prefetch_loads.inc()
            self._prefetched[item.key] = None
            while len(self._prefetched) > self._prefetched_cap:
                try:
                    self._prefetched.pop(next(iter(self._prefetched)), None)
                except (StopIteration, RuntimeError):  # emptied/changed concurrently
                    break

    def process_prefetch_queue(self, loader: Loader, max_items: Optional[int] = None) -> int:
        """Load queued requests in this thread with ``loader(endpoint, params)``; number loaded."""
        self._check()
        done = 0
        while max_items is None or done < max_items:
            item = self._queue.pop()
            if item is None:
                break
            self._load(item, loader)
            done += 1
        return done

    def start_prefetch_worker(self, loader: Loader) -> None:
        """Start a background thread that loads queued requests with ``loader``."""
        self._check()
        with self._state_lock:
            if self._worker is not None:
                raise RuntimeError("a prefetch worker is already running")
            self._start_worker_locked(loader)

    def _start_worker_locked(self, loader: Loader) -> None:
        self._prefetch_used = True
        self._install_fast_path()
        self._worker = PrefetchWorker(self._queue, lambda item: self._load(item, loader))
        self._worker.start()

    def stop_prefetch_worker(self) -> None:
        """Stop the background prefetch worker, if any."""
        with self._state_lock:
            worker, self._worker = self._worker, None
        if worker is not None:
            worker.stop()
