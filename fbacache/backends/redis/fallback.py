"""Route each Redis call to the server, or to an in-memory fallback when the server is away.

:class:`FallbackGuard` composes the building blocks of :mod:`~fbacache.backends.redis.retry`,
:mod:`~fbacache.backends.redis.backoff` and :mod:`~fbacache.backends.redis.circuit`:

- breaker closed: the call runs under ``Retry`` (few attempts, jittered backoff, a deadline);
  a transient failure after the retries is counted, reported to the breaker, and the call is
  answered by the fallback instead; the caller sees no exception;
- breaker open: the fallback answers at once, nothing is sent to the dead server;
- after the cool-down the next call is the probe; its success closes the breaker and Redis
  serves again. No background thread is needed to notice recovery.

Nothing of this is silent: every state change is a WARNING on ``fbacache.redis`` naming
the server (password redacted) and the cause, and so is the first failure of a backend
that has never reached its server (a wrong password, TLS to a plaintext port, an
unknown host, a missing unix socket), before the breaker has even opened. A server
that answers "no such database" is a configuration error, raised as ConfigError.

:class:`DirtyKeys` remembers what this process changed on the fallback during an outage,
so that the backend can *invalidate* those keys in Redis when it comes back (never replay
the values: another process may have written fresher ones meanwhile).

>>> from fbacache.backends.redis.client import RedisOptions
>>> guard = FallbackGuard(RedisOptions(failure_threshold=1, retry_attempts=1))
>>> def down():
...     raise ConnectionError("refused")
>>> guard.retry.retry_on = (ConnectionError,)
>>> guard.run(down, lambda: "from memory"), guard.state
('from memory', 'fallback')
>>> guard.run(down, lambda: "again"), guard.snapshot()["backend_fallbacks"]
('again', 2)
"""
from __future__ import annotations

import threading
from typing import Any, Callable, Iterable, Optional, TypeVar

import redis

from fbacache.backends.redis.backoff import ExponentialBackoff
from fbacache.backends.redis.circuit import CLOSED, HALF_OPEN, OPEN, STATE_VALUES, CircuitBreaker
from fbacache.backends.redis.client import TRANSIENT_ERRORS, RedisOptions, redact_url
from fbacache.backends.redis.retry import Retry
from fbacache.errors import BackendError, ConfigError
from fbacache.log import get_logger
from fbacache.metrics import Counter

log = get_logger("redis")

__all__ = ["FallbackGuard", "DirtyKeys", "STATE_NAMES", "DOWN"]

T = TypeVar("T")


class _Down:
    """The type of :data:`DOWN`."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "DOWN"


#: What :meth:`FallbackGuard.call` returns when Redis did not answer and the fallback must.
DOWN: Any = _Down()

#: Breaker state -> what serves the calls (the ``backend_state`` metric).
STATE_NAMES = {CLOSED: "redis", HALF_OPEN: "probing", OPEN: "fallback"}

# Reply errors that mean "this server has no such database" (SELECT on connect).
_NO_SUCH_DB = ("db index is out of range", "invalid db index")


def _cause(exc: Optional[BaseException]) -> str:
    return "unknown cause" if exc is None else f"{type(exc).__name__}: {exc}"


class FallbackGuard:
    """Run ``do`` against Redis under retry + circuit breaker, else ``fallback``.

    Parameters:
        opts: the backend options (attempts, backoff, deadline, breaker threshold and
            cool-down, whether a fallback is allowed at all).
        on_failure: called after each failed attempt with the exception (e.g. drop idle
            pooled connections, which are likely dead too).

    Raises (from :meth:`run`): :class:`BackendError` when Redis fails and ``opts.fallback``
    is False; non-transient exceptions of ``do`` (reply errors, bugs) as they are.
    """

    def __init__(self, opts: RedisOptions,
                 on_failure: Optional[Callable[[BaseException], object]] = None) -> None:
        self.enabled = opts.fallback
        self.where = redact_url(opts.url)
        self.breaker = CircuitBreaker(
            opts.failure_threshold,
            ExponentialBackoff(opts.cooldown_base, opts.cooldown_cap, "equal"),
            probe_timeout=max(2.0, 4 * (opts.socket_timeout + opts.retry_deadline)),
            on_state_change=self._state_changed)
        self.retry = Retry(attempts=opts.retry_attempts,
                           backoff=ExponentialBackoff(opts.retry_backoff_base,
                                                      opts.retry_backoff_cap, "full"),
                           retry_on=TRANSIENT_ERRORS, deadline=opts.retry_deadline)
        self._on_failure = on_failure
        self.errors = Counter()      # failed Redis attempts (each retry counts)
        self.fallbacks = Counter()   # calls answered by the fallback
        #: The last transient failure (the cause named in state-change warnings).
        self.last_error: Optional[BaseException] = None
        # Unlocked flags: at worst two threads both log the first-failure warning.
        self._reached = False        # has any call ever been answered by the server?
        self._warned_start = False

    def _state_changed(self, old: str, new: str) -> None:
        # Called by the breaker outside its lock, once per transition.
        if new == OPEN:
            why = ("the probe failed" if old == HALF_OPEN else "Redis failed "
                   f"{self.breaker.failure_threshold} calls in a row")
            log.warning("Redis backend %s: %s -> %s: %s (%s); %s", self.where,
                        STATE_NAMES[old], STATE_NAMES[new], why, _cause(self.last_error),
                        "calls are served from this process's memory" if self.enabled
                        else "calls raise BackendError (fallback disabled)")
        elif new == HALF_OPEN:
            log.warning("Redis backend %s: %s -> %s: cool-down over, the next call probes "
                        "the server", self.where, STATE_NAMES[old], STATE_NAMES[new])
        else:
            log.warning("Redis backend %s: %s -> %s: the server answered again", self.where,
                        STATE_NAMES[old], STATE_NAMES[new])

    @property
    def state(self) -> str:
        """``"redis"``, ``"fallback"`` or ``"probing"`` (what serves calls right now)."""
        return STATE_NAMES[self.breaker.state]

    def _failed(self, exc: BaseException) -> None:
        self.errors.inc()
        if self._on_failure is not None:
            self._on_failure(exc)

    def run(self, do: Callable[[], T], fallback: Callable[[], T]) -> T:
        """``do()`` if Redis is usable, else (or if it fails transiently) ``fallback()``."""
        result = self.call(do)
        return fallback() if result is DOWN else result

    def call(self, fn: Callable[..., T], *args: Any) -> Any:
        """``fn(*args)`` against Redis, or :data:`DOWN` when the fallback must answer instead.

        The allocation-free form of :meth:`run` for the hot paths: no closures, and on
        success no lock, no retry set-up and one clock read (the retry deadline's start).
        :data:`DOWN` has already been counted in ``backend_fallbacks``; with the fallback
        disabled this raises :class:`BackendError` instead of returning it.
        """
        breaker = self.breaker
        # allow() is always True while closed; skipping it keeps its lock off the hot path.
        if not breaker.closed and not breaker.allow():
            return self._down(None)
        retry = self.retry
        give_up_at = retry.give_up_at()
        try:
            try:
                result = fn(*args)
                first = None
            except retry.retry_on as exc:
                first = exc
            if first is not None:
                # the rest of the retry policy, outside the except clause above so that a
                # later failure is not chained to the first one
                result = retry.after(first, fn, args, give_up_at, self._failed)
        except retry.retry_on as exc:
            self.last_error = exc
            if not self._reached and not self._warned_start:
                self._warned_start = True
                log.warning("Redis backend %s: cannot reach the server (%s); %s until it "
                            "answers", self.where, _cause(exc),
                            "calls are served from this process's memory" if self.enabled
                            else "calls raise BackendError")
            breaker.record_failure()
            return self._down(exc)
        except redis.ResponseError as exc:
            breaker.record_success()  # the server answered: a reply error is not an outage
            if any(text in str(exc).lower() for text in _NO_SUCH_DB):
                raise ConfigError("backend_config.url", f"the server at {self.where} has no "
                                  f"such database ({exc})") from exc
            raise
        except BaseException:
            breaker.record_success()  # the server answered: a reply error is not an outage
            raise
        self._reached = True
        breaker.record_success()  # lock-free while closed without failures
        return result

    def _down(self, exc: Optional[BaseException]) -> Any:
        if not self.enabled:
            raise BackendError(f"Redis is unavailable ({exc or 'circuit open'}) and the "
                               "fallback is disabled") from exc
        self.fallbacks.inc()
        return DOWN

    def snapshot(self) -> dict[str, Any]:
        """``backend_state``, ``backend_state_value``, ``backend_fallbacks``,
        ``backend_errors`` and the breaker's counters (``backend_circuit_*``)."""
        snap = self.breaker.snapshot()
        state = str(snap["state"])
        return {
            "backend_state": STATE_NAMES[state],
            "backend_state_value": STATE_VALUES[state],
            "backend_fallbacks": self.fallbacks.value,
            "backend_errors": self.errors.value,
            "backend_circuit_opens": snap["opens"],
            "backend_circuit_probes": snap["probes"],
            "backend_circuit_rejected": snap["rejected"],
            "backend_circuit_retry_in": snap["retry_in"],
        }


class DirtyKeys:
    """Redis keys changed on the fallback during an outage (bounded), or "everything".

    ``add`` past ``limit`` keys degrades to "everything" (a clear of our prefix on
    recovery): correct, only more expensive. Thread-safe.

    >>> d = DirtyKeys(limit=2); d.add([b"a", b"b"]); d.pending
    True
    >>> d.take()
    (False, [b'a', b'b'])
    >>> d.settle(); d.pending
    False
    >>> d.add([b"a", b"b", b"c"]); d.take()[0]
    True
    """

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._lock = threading.Lock()
        self._keys: dict[bytes, None] = {}
        self._all = False
        #: Cheap unlocked check for the hot path (a stale False only delays the reconcile
        #: to the next call; a stale True costs one locked take()).
        self.pending = False

    def add(self, rkeys: Iterable[bytes]) -> None:
        """Remember ``rkeys`` as changed locally."""
        with self._lock:
            if not self._all:
                for k in rkeys:
                    self._keys[k] = None
                if len(self._keys) > self.limit:
                    self._all, self._keys = True, {}
            self.pending = True

    def mark_all(self) -> None:
        """Everything in our prefix must be invalidated (a clear() during the outage)."""
        with self._lock:
            self._all, self._keys, self.pending = True, {}, True

    def take(self) -> tuple[bool, list[bytes]]:
        """``(everything, keys)`` and forget them; give them back with :meth:`restore`.

        ``pending`` stays True until :meth:`settle`, so concurrent callers keep taking
        the reconcile path (and wait for it) instead of reading stale Redis values.
        """
        with self._lock:
            out = (self._all, list(self._keys))
            self._all, self._keys = False, {}
        return out

    def settle(self) -> None:
        """After a reconcile: ``pending`` again reflects what was added meanwhile."""
        with self._lock:
            self.pending = self._all or bool(self._keys)

    def restore(self, everything: bool, keys: Iterable[bytes]) -> None:
        """Put back what :meth:`take` returned (the reconcile failed)."""
        if everything:
            self.mark_all()
        else:
            self.add(keys)
