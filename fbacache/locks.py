"""Per-key single-flight: one thread computes a value, concurrent callers wait for it.

Used by ``CacheManager.get_or_set`` for stampede protection. The registry
lock is held only to find or create the in-flight call, never while the
function runs; waiters block on the call's own event with a timeout.
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Hashable, Optional

from fbacache._validate import check_duration
from fbacache.errors import SingleFlightTimeout
from fbacache.metrics import Counter

__all__ = ["SingleFlight"]


class _Call:
    __slots__ = ("done", "value", "error", "owner", "waiters")

    def __init__(self, owner: int) -> None:
        self.done = threading.Event()
        self.value: Any = None
        self.error: Optional[BaseException] = None
        self.owner = owner
        self.waiters = 0


class SingleFlight:
    """Coalesce concurrent calls for the same key.

    ``do(key, fn, timeout)`` runs ``fn()`` in the first caller (the leader);
    callers arriving while it runs wait up to ``timeout`` seconds and receive
    the leader's result, or its exception re-raised (the same exception
    object, as ``concurrent.futures`` does). A waiter that times out raises
    :class:`SingleFlightTimeout`; the leader keeps running. A leader that calls
    ``do`` again for the same key (re-entrancy) runs ``fn`` directly instead of
    deadlocking on itself.

    >>> sf = SingleFlight()
    >>> sf.do("k", lambda: 42, timeout=1.0)
    42
    """

    def __init__(self) -> None:
        # Re-entrant: looking the key up runs its __hash__, which may call
        # get_or_set on the same manager from this thread.
        self._lock = threading.RLock()
        self._calls: dict[Hashable, _Call] = {}
        self.leaders = Counter()
        self.waits = Counter()
        self.timeouts = Counter()

    def in_flight(self) -> int:
        """Number of keys currently being computed."""
        with self._lock:
            return len(self._calls)

    def do(self, key: Hashable, fn: Callable[[], Any], timeout: Optional[float]) -> Any:
        """Run ``fn`` once for all concurrent callers of ``key``; see the class doc.

        ``timeout`` None or ``math.inf`` waits as long as the leader runs; anything but a
        positive number up to ``threading.TIMEOUT_MAX`` is a ConfigError (an event wait
        would raise OverflowError in the waiter, after the leader had started).
        """
        if timeout is not None:
            timeout = check_duration(timeout, "timeout", wait=True)
        me = threading.get_ident()
        with self._lock:
            found = self._calls.get(key)
            leader = found is None
            call: Optional[_Call]
            if found is None:
                call = self._calls[key] = _Call(me)
            elif found.owner == me:
                call = None  # re-entrant call from inside fn: no coalescing
            else:
                found.waiters += 1
                call = found
        if call is None:
            return fn()
        if leader:
            self.leaders.inc()
            try:
                call.value = fn()
                return call.value
            except BaseException as exc:
                call.error = exc
                raise
            finally:
                with self._lock:
                    del self._calls[key]
                call.done.set()
        self.waits.inc()
        if not call.done.wait(timeout):
            self.timeouts.inc()
            raise SingleFlightTimeout(
                f"gave up after {timeout}s waiting for another thread to compute {key!r}")
        if call.error is not None:
            raise call.error
        return call.value
