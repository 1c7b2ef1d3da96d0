"""Stale-while-revalidate and TTL jitter for :class:`fbacache.CacheManager`.

**Grace period.** ``get_or_set(key, factory, ttl=60, grace=30)`` stores the
value for ``ttl + grace`` seconds. While more than ``grace`` seconds remain the
value is fresh. In the last ``grace`` seconds it is *stale*: the first caller to
notice claims the refresh and the others are served the stale value at once.
The claimant runs ``factory`` (inline, or on a daemon thread with
``background=True``, in which case it is served the stale value too) through
the manager's single flight, so a caller that finds no value at all waits for
that same computation instead of starting another. A failing refresh is logged
(``fbacache.swr``, without the value) and the stale value keeps being served
until the grace period ends. After ``ttl + grace`` the entry is gone and the
next call blocks on a normal single-flight load. Plain ``get`` also returns the
value during the grace period; ``ttl(key)`` reports the stored lifetime.

**Jitter.** ``CacheManager(..., ttl_jitter=Jitter(0.1, rng=random.Random(7)))``
shortens every finite TTL by a random fraction in ``[0, 0.1)``, so entries
written together do not expire together. Jitter only shortens: the TTL asked
for stays an upper bound on an entry's age.

>>> import random
>>> j = Jitter(0.2, rng=random.Random(1))
>>> [round(j(100.0), 3) for _ in range(3)]
[97.313, 83.051, 84.725]
"""
from __future__ import annotations

import random
import threading
from typing import Any, Callable, Hashable, Optional

from fbacache._util import MISSING
from fbacache._validate import check_number
from fbacache.errors import ConfigError
from fbacache.log import describe_key, get_logger
from fbacache.metrics import Counter

__all__ = ["Jitter", "Revalidator", "check_grace"]

log = get_logger("swr")


class Jitter:
    """Randomly shorten TTLs: ``ttl`` becomes uniform in ``(ttl * (1 - fraction), ttl]``.

    ``rng`` is any object with ``random() -> float in [0, 1)`` (inject
    ``random.Random(seed)`` in tests). Raises ConfigError unless ``0 <= fraction < 1``.
    """

    def __init__(self, fraction: float = 0.1, rng: Optional[Any] = None) -> None:
        check_number(fraction, "ttl_jitter", minimum=0)
        if not fraction < 1.0:  # 1.0 could shorten a TTL to zero
            raise ConfigError("ttl_jitter", f"fraction must be in [0, 1), got {fraction!r}")
        self.fraction = float(fraction)
        self.rng = rng if rng is not None else random.Random()

    def __call__(self, ttl: float) -> float:
        """A jittered copy of ``ttl`` (seconds)."""
        return ttl * (1.0 - self.fraction * self.rng.random())

    def __repr__(self) -> str:
        return f"Jitter({self.fraction})"


def check_grace(grace: Any) -> float:
    """``grace`` as a float; ConfigError('grace') unless positive, finite and at most
    ``MAX_SECONDS`` (added to a TTL, it must still give a deadline every backend keeps)."""
    return float(check_number(grace, "grace", minimum=0, inclusive=False))


class Revalidator:
    """Per-manager stale-while-revalidate state: the keys being refreshed and counters.

    Like dogpile's ``Lock`` it knows nothing about the cache it serves: :meth:`serve` is given
    the few callables it needs.

    >>> store = {"k": "old"}
    >>> r = Revalidator()
    >>> r.serve("k", lambda: "new", grace=5.0, background=False, wait=1.0,
    ...         get=lambda: store.get("k", MISSING), remaining=lambda: 2.0,  # inside the grace
    ...         load=lambda: "loaded", store=lambda v: store.update(k=v),
    ...         single_flight=lambda key, fn, wait: fn())
    'new'
    >>> store["k"], r.snapshot()["swr_refreshes"]
    ('new', 1)
    """

    def __init__(self) -> None:
        self._lock = threading.RLock()  # re-entrant: a key's __hash__ may use the manager
        self._refreshing: set[Hashable] = set()
        self._threads: set[threading.Thread] = set()
        self.stale_served = Counter()
        self.refreshes = Counter()
        self.refresh_errors = Counter()

    def _claim(self, key: Hashable) -> bool:
        with self._lock:
            if key in self._refreshing:
                return False
            self._refreshing.add(key)
            return True

    def _release(self, key: Hashable) -> None:
        with self._lock:
            self._refreshing.discard(key)

    def serve(self, key: Hashable, factory: Callable[[], Any], *, grace: float,
              background: bool, wait: float,
              get: Callable[[], Any], remaining: Callable[[], Optional[float]],
              load: Callable[[], Any], store: Callable[[Any], Any],
              single_flight: Callable[[Hashable, Callable[[], Any], float], Any]) -> Any:
        """``get_or_set`` with a grace period (see the module docstring).

        ``get()`` gives the cached value (or MISSING), ``remaining()`` its remaining lifetime
        (None: unbounded); ``load()`` is the blocking single-flight load used when there is no
        value; ``store(value)`` writes a refreshed value; ``single_flight(key, fn, wait)`` runs
        ``fn`` once however many callers ask for ``key``.  ``grace`` must already be checked
        (:func:`check_grace`).
        """
        value = get()
        if value is MISSING:
            return load()
        left = remaining()
        if left is not None and left > grace:
            return value  # fresh
        self.stale_served.inc()
        if not self._claim(key):
            return value  # another thread is refreshing it

        def refresh() -> Any:
            try:
                fresh = factory()
                store(fresh)
                self.refreshes.inc()
                return fresh
            except Exception:
                self.refresh_errors.inc()
                log.warning("refresh of stale %s failed; serving the stale value",
                            describe_key(key), exc_info=True)
                return value

        if not background:
            try:
                # Through the single flight: callers that find no value wait for this
                # refresh; if another load of the key is already running we join it.
                return single_flight(key, refresh, wait)
            except Exception:  # the joined load failed or timed out: stay stale
                return value
            finally:
                self._release(key)

        def run() -> None:
            try:
                single_flight(key, refresh, wait)
            except Exception:  # e.g. SingleFlightTimeout joining another load
                log.warning("background refresh of %s failed", describe_key(key), exc_info=True)
            finally:
                self._release(key)
                with self._lock:
                    self._threads.discard(threading.current_thread())

        thread = threading.Thread(target=run, name="fbacache-swr", daemon=True)
        with self._lock:
            self._threads.add(thread)
        try:
            thread.start()
        except BaseException:
            with self._lock:
                self._threads.discard(thread)
            self._release(key)
            raise
        return value

    def join(self, timeout: Optional[float] = None) -> bool:
        """Wait for background refreshes started so far; True if all finished."""
        with self._lock:
            threads = list(self._threads)
        for t in threads:
            t.join(timeout)
        return not any(t.is_alive() for t in threads)

    def snapshot(self) -> dict[str, int]:
        """Counters for ``get_metrics``."""
        return {"swr_stale_served": self.stale_served.value,
                "swr_refreshes": self.refreshes.value,
                "swr_refresh_errors": self.refresh_errors.value}
