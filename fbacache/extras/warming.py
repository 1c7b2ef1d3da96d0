"""Cache warming: queued single entries on a background worker, and bulk loads in batches.

``CacheWarmer(manager)`` owns a bounded queue and one daemon worker thread:

- ``warmup_cache(key, value, ttl=..., tags=...)`` (or ``loader=`` a zero-argument
  callable computing the value on the worker) queues one entry and returns at
  once; False when the queue is full (counted as rejected). ``overwrite=False``
  keeps an entry that is already cached (and runs ``loader`` through
  ``get_or_set``, so never twice). ``join()`` waits until everything queued so
  far has been applied. A failing entry is logged (key only) and counted; the
  worker keeps going.
- ``warm_cache(data_source, key_pattern, batch_size=100)`` loads in the calling
  thread, ``batch_size`` entries per ``set_many``: ``data_source`` is a mapping
  ``{id: value}``, an iterable of ``(id, value)`` pairs, or a callable
  ``data_source(offset, limit)`` returning such a page (loading stops at the
  first page shorter than ``limit``). Keys are ``key_pattern.format(id, key=id)``
  (``"product:{}"`` or ``"product:{key}"``).

>>> from fbacache import CacheManager, CacheWarmer
>>> cache = CacheManager()
>>> with CacheWarmer(cache) as warmer:
...     warmer.warmup_cache("config:site", {"currency": "GBP"})
...     warmer.warm_cache({1: "a", 2: "b", 3: "c"}, "product:{key}", batch_size=2)
...     warmer.join(timeout=5)
True
WarmResult(loaded=3, batches=2)
True
>>> sorted(cache.keys())
['config:site', 'product:1', 'product:2', 'product:3']
"""
from __future__ import annotations

import collections.abc
import queue
import threading
from dataclasses import dataclass
from typing import Any, Callable, Hashable, Iterable, Iterator, NamedTuple, Optional

from fbacache._util import MISSING
from fbacache.errors import ConfigError
from fbacache.log import describe_key, get_logger
from fbacache.metrics import Counter

__all__ = ["CacheWarmer", "WarmResult"]

log = get_logger("warming")


class WarmResult(NamedTuple):
    """What ``warm_cache`` stored: entries and ``set_many`` batches."""

    loaded: int
    batches: int


@dataclass
class _Job:
    key: Hashable
    value: Any
    loader: Optional[Callable[[], Any]]
    ttl: Optional[float]
    tags: Optional[tuple[str, ...]]
    overwrite: bool


def _check_pattern(key_pattern: str) -> None:
    if not isinstance(key_pattern, str) or "{" not in key_pattern:
        raise ConfigError("key_pattern", f"must be a str with a '{{}}' or '{{key}}' field, "
                          f"got {key_pattern!r}")
    try:
        key_pattern.format("x", key="x")
    except (IndexError, KeyError, ValueError) as exc:
        raise ConfigError("key_pattern", f"{key_pattern!r} cannot be formatted with the id "
                          f"(use '{{}}' or '{{key}}'): {exc}") from None


def _pairs(page: Any) -> list[tuple[Any, Any]]:
    if isinstance(page, collections.abc.Mapping):
        return list(page.items())
    return [(k, v) for k, v in page]


def _batches(data_source: Any, size: int) -> Iterator[list[tuple[Any, Any]]]:
    if callable(data_source) and not isinstance(data_source, collections.abc.Mapping):
        offset = 0
        while True:
            page = _pairs(data_source(offset, size))
            if page:
                yield page
            if len(page) < size:
                return
            offset += len(page)
    items = iter(data_source.items() if isinstance(data_source, collections.abc.Mapping)
                 else data_source)
    while True:
        batch = []
        for pair in items:
            batch.append(tuple(pair))
            if len(batch) == size:
                break
        if not batch:
            return
        yield batch
        if len(batch) < size:
            return


class CacheWarmer:
    """Fill a CacheManager ahead of demand (see the module docstring).

    Args:
        manager: the CacheManager to fill.
        queue_size: bound of the ``warmup_cache`` queue.
        start: start the worker thread now (else on first ``warmup_cache``).
    """

    def __init__(self, manager: Any, *, queue_size: int = 10_000, start: bool = True) -> None:
        if isinstance(queue_size, bool) or not isinstance(queue_size, int) or queue_size <= 0:
            raise ConfigError("queue_size", f"must be a positive integer, got {queue_size!r}")
        self.manager = manager
        self._queue: queue.Queue[Optional[_Job]] = queue.Queue(queue_size)
        self._cond = threading.Condition()
        self._pending = 0
        self._thread: Optional[threading.Thread] = None
        self._lock = threading.Lock()
        self.applied = Counter()
        self.rejected = Counter()
        self.errors = Counter()
        if start:
            self.start()

    # ------------------------------------------------------------------ worker
    def start(self) -> None:
        """Start the worker thread (no-op if it runs)."""
        with self._lock:
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="fbacache-warmer",
                                                daemon=True)
                self._thread.start()

    def stop(self, timeout: Optional[float] = 5.0) -> None:
        """Apply what is queued, then stop the worker and join it."""
        with self._lock:
            thread, self._thread = self._thread, None
        if thread is not None and thread.is_alive():
            self._queue.put(None)  # after the queued jobs: FIFO
            thread.join(timeout)

    def __enter__(self) -> "CacheWarmer":
        self.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.stop()

    def _run(self) -> None:
        while True:
            job = self._queue.get()
            if job is None:
                return
            try:
                self._apply(job)
                self.applied.inc()
            except Exception:
                self.errors.inc()
                log.warning("warming %s failed", describe_key(job.key), exc_info=True)
            finally:
                with self._cond:
                    self._pending -= 1
                    self._cond.notify_all()

    def _apply(self, job: _Job) -> None:
        m = self.manager
        if job.overwrite:
            value = job.loader() if job.loader is not None else job.value
            m.set(job.key, value, job.ttl, tags=job.tags)
        else:
            factory = job.loader if job.loader is not None else (lambda: job.value)
            m.get_or_set(job.key, factory, job.ttl, tags=job.tags)

    # ------------------------------------------------------------------ API
    def warmup_cache(self, key: Hashable, value: Any = MISSING, *,
                     loader: Optional[Callable[[], Any]] = None, ttl: Optional[float] = None,
                     tags: Optional[Iterable[str]] = None, overwrite: bool = True) -> bool:
        """Queue one entry (a ``value``, or a ``loader`` run on the worker); False if full."""
        if (value is MISSING) == (loader is None):
            raise ConfigError("value", "give exactly one of value and loader")
        if loader is not None and not callable(loader):
            raise ConfigError("loader", "must be a zero-argument callable")
        if self._thread is None:
            self.start()
        job = _Job(key, value, loader, ttl, tuple(tags) if tags else None, overwrite)
        with self._cond:
            self._pending += 1
        try:
            self._queue.put_nowait(job)
        except queue.Full:
            with self._cond:
                self._pending -= 1
                self._cond.notify_all()
            self.rejected.inc()
            log.debug("warm-up queue full; rejected %s", describe_key(key))
            return False
        return True

    def join(self, timeout: Optional[float] = None) -> bool:
        """Wait until every queued entry was applied; False on timeout."""
        with self._cond:
            return self._cond.wait_for(lambda: self._pending == 0, timeout)

    def warm_cache(self, data_source: Any, key_pattern: str, batch_size: int = 100, *,
                   ttl: Optional[float] = None) -> WarmResult:
        """Load ``data_source`` into the cache in batches, in this thread (see module doc).

        Raises ConfigError for a bad ``key_pattern`` or ``batch_size``; errors of
        the data source or the manager propagate (batches already stored stay).
        """
        _check_pattern(key_pattern)
        if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size <= 0:
            raise ConfigError("batch_size", f"must be a positive integer, got {batch_size!r}")
        loaded = batches = 0
        for batch in _batches(data_source, batch_size):
            mapping = {key_pattern.format(k, key=k): v for k, v in batch}
            self.manager.set_many(mapping, ttl)
            loaded += len(mapping)
            batches += 1
        log.debug("warmed %d entries in %d batches (%s)", loaded, batches, key_pattern)
        return WarmResult(loaded, batches)

    def stats(self) -> dict[str, int]:
        """applied, rejected, errors and queued (not yet applied) counts."""
        with self._cond:
            pending = self._pending
        return {"applied": self.applied.value, "rejected": self.rejected.value,
                "errors": self.errors.value, "queued": pending}
