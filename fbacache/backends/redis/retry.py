"""Retry an operation on transient errors with backoff (the shape of redis-py's ``Retry``).

``call_with_retry(do, fail)`` calls ``do()``; on an exception listed in ``retry_on`` it calls
``fail(exc)`` (e.g. drop the broken connection), sleeps ``backoff.compute(failures)`` and tries
again, up to ``attempts`` calls in total and within an optional ``deadline``. Other exceptions
propagate at once: a retry must never turn a bug or a ``WRONGTYPE`` answer into a slow bug.

    >>> calls = []
    >>> def flaky():
    ...     calls.append(1)
    ...     if len(calls) < 3:
    ...         raise ConnectionError("reset")
    ...     return "ok"
    >>> call_with_retry(flaky, attempts=3, sleep=lambda s: None)
    'ok'
    >>> len(calls)
    3
"""
from __future__ import annotations

import time
from typing import Any, Callable, Optional, Tuple, Type, TypeVar

from fbacache.backends.redis.backoff import Backoff, ExponentialBackoff
from fbacache.errors import ConfigError

__all__ = ["call_with_retry", "retry_after", "Retry", "DEFAULT_RETRY_ON"]

T = TypeVar("T")
ExceptionTypes = Tuple[Type[BaseException], ...]

#: Builtin transient errors. redis-py's ConnectionError/TimeoutError are *not* subclasses of
#: these; a Redis backend passes its own tuple.
DEFAULT_RETRY_ON: ExceptionTypes = (ConnectionError, TimeoutError)


def call_with_retry(do: Callable[[], T], fail: Optional[Callable[[BaseException], object]] = None,
                    *, retry_on: ExceptionTypes = DEFAULT_RETRY_ON, attempts: int = 3,
                    backoff: Optional[Backoff] = None,
                    sleep: Callable[[float], object] = time.sleep,
                    deadline: Optional[float] = None,
                    clock: Callable[[], float] = time.monotonic) -> T:
    """Return ``do()``, retrying on ``retry_on`` exceptions.

    Parameters:
        do: the operation (no arguments).
        fail: called with each retryable exception before the wait (also after the last one).
        retry_on: exception types that are worth another attempt.
        attempts: total calls of ``do`` (>= 1; 1 means no retry).
        backoff: wait strategy; default ``ExponentialBackoff(0.01, 0.5, "full")``.
        sleep: how to wait (inject a recorder in tests).
        deadline: seconds from now after which no new attempt starts (a wait that would end
            past it is not taken); None = attempts alone bound the work.
        clock: monotonic clock for ``deadline``.

    Raises:
        The last retryable exception once attempts or the deadline are exhausted; any other
        exception from ``do`` or ``fail`` immediately.
        ConfigError: ``attempts`` < 1.
    """
    if attempts < 1:
        raise ConfigError("attempts", f"must be >= 1, got {attempts!r}")
    strategy = backoff if backoff is not None else ExponentialBackoff(0.01, 0.5, "full")
    give_up_at = None if deadline is None else clock() + deadline
    try:
        return do()
    except retry_on as exc:
        first = exc
    # (outside the except clause: a later failure is not chained to this one)
    return retry_after(first, do, (), fail, retry_on=retry_on, attempts=attempts,
                       backoff=strategy, sleep=sleep, give_up_at=give_up_at, clock=clock)


def retry_after(exc: BaseException, do: Callable[..., T], args: tuple[Any, ...],
                fail: Optional[Callable[[BaseException], object]], *,
                retry_on: ExceptionTypes, attempts: int, backoff: Backoff,
                sleep: Callable[[float], object], give_up_at: Optional[float],
                clock: Callable[[], float]) -> T:
    """The rest of :func:`call_with_retry` once the first call of ``do(*args)`` raised ``exc``.

    Lets a caller make the first attempt inline (no closure, no setup on the path that
    succeeds) and hand over only when it failed. ``give_up_at`` is the absolute deadline on
    ``clock`` (read it before the first attempt), None for none. Raises as
    :func:`call_with_retry` does.
    """
    failures = 0
    while True:
        failures += 1
        if fail is not None:
            fail(exc)
        if failures >= attempts:
            raise exc
        wait = backoff.compute(failures)
        if give_up_at is not None and clock() + wait >= give_up_at:
            raise exc
        if wait > 0:
            sleep(wait)
        try:
            return do(*args)
        except retry_on as again:
            exc = again


class Retry:
    """A reusable retry policy: ``Retry(attempts=3).call(do, fail)``.

    Parameters are those of :func:`call_with_retry` (fixed once, e.g. per backend).

    Raises:
        ConfigError: ``attempts`` < 1.
    """

    def __init__(self, *, attempts: int = 3, backoff: Optional[Backoff] = None,
                 retry_on: ExceptionTypes = DEFAULT_RETRY_ON, deadline: Optional[float] = None,
                 sleep: Callable[[float], object] = time.sleep,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if attempts < 1:
            raise ConfigError("attempts", f"must be >= 1, got {attempts!r}")
        self.attempts = attempts
        self.backoff = backoff if backoff is not None else ExponentialBackoff(0.01, 0.5, "full")
        self.retry_on = tuple(retry_on)
        self.deadline = deadline
        self._sleep = sleep
        self._clock = clock

    def call(self, do: Callable[[], T],
             fail: Optional[Callable[[BaseException], object]] = None) -> T:
        """Run ``do`` under this policy (see :func:`call_with_retry`)."""
        return call_with_retry(do, fail, retry_on=self.retry_on, attempts=self.attempts,
                               backoff=self.backoff, sleep=self._sleep, deadline=self.deadline,
                               clock=self._clock)

    def give_up_at(self) -> Optional[float]:
        """The absolute deadline (on this policy's clock) of a call starting now; None if
        the policy has no deadline. Read it before an inline first attempt."""
        return None if self.deadline is None else self._clock() + self.deadline

    def after(self, exc: BaseException, do: Callable[..., T], args: tuple[Any, ...],
              give_up_at: Optional[float],
              fail: Optional[Callable[[BaseException], object]] = None) -> T:
        """Continue after an inline first call of ``do(*args)`` raised the retryable ``exc``
        (see :func:`retry_after`): the same attempts, waits and deadline as :meth:`call`.

        >>> r = Retry(attempts=2, sleep=lambda s: None)
        >>> r.after(ConnectionError("reset"), lambda x: x * 2, (21,), r.give_up_at())
        42
        """
        return retry_after(exc, do, args, fail, retry_on=self.retry_on, attempts=self.attempts,
                           backoff=self.backoff, sleep=self._sleep, give_up_at=give_up_at,
                           clock=self._clock)

    def __repr__(self) -> str:
        names = ", ".join(t.__name__ for t in self.retry_on)
        return f"Retry(attempts={self.attempts}, backoff={self.backoff!r}, retry_on=({names}))"
