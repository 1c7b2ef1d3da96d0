"""A thread-safe circuit breaker: stop calling a dead server, probe it now and then, resume.

States (``breaker.state`` is one of these strings, for metrics and logs)::

    closed ──(failure_threshold consecutive failures)──> open
    open ──(cool-down elapsed; the next allow() is the probe)──> half_open
    half_open ──(success)──> closed          half_open ──(failure)──> open (longer cool-down)

* **closed**: every call is allowed; a success resets the consecutive-failure count.
* **open**: no call is allowed (``allow()`` is False) until the cool-down has elapsed. The cool-down
  after the n-th consecutive trip is ``cooldown.compute(n)``, so a server that stays dead is probed
  less and less often (exponential, jittered so that many processes do not probe in step).
* **half_open**: exactly one probe call is allowed at a time; its success closes the breaker (and
  resets the cool-down sequence), its failure re-opens it. A probe whose outcome is never
  recorded (the caller crashed) is replaced after ``probe_timeout`` seconds.

Outcomes reported while *open* come from calls admitted before the trip; they are ignored, so a
late success cannot reopen the floodgates and a late failure cannot extend the cool-down.

The breaker only decides; the caller does the call and reports the outcome::

    if breaker.allow():
        try:
            value = server_call()
        except TransientError:
            breaker.record_failure()
            value = fallback()
        else:
            breaker.record_success()
    else:
        value = fallback()

>>> clock = [0.0]
>>> from fbacache.backends.redis.backoff import ConstantBackoff
>>> b = CircuitBreaker(failure_threshold=2, cooldown=ConstantBackoff(5), clock=lambda: clock[0])
>>> b.record_failure(); b.record_failure(); b.state
'open'
>>> b.allow()
False
>>> clock[0] = 5.0
>>> b.allow(), b.state, b.allow()
(True, 'half_open', False)
>>> b.record_success(); b.state
'closed'
"""
from __future__ import annotations

import threading
import time
from typing import Callable, Optional

from fbacache.backends.redis.backoff import Backoff, ExponentialBackoff
from fbacache.errors import ConfigError

__all__ = ["CircuitBreaker", "CLOSED", "OPEN", "HALF_OPEN", "STATE_VALUES"]

CLOSED = "closed"
OPEN = "open"
HALF_OPEN = "half_open"
#: Numeric encoding for gauges (Prometheus has no string metrics).
STATE_VALUES = {CLOSED: 0, HALF_OPEN: 1, OPEN: 2}

StateListener = Callable[[str, str], object]


class CircuitBreaker:
    """Closed/open/half-open breaker with a backoff-computed cool-down and an injectable clock.

    Parameters:
        failure_threshold: consecutive failures (while closed) that open the breaker.
        cooldown: strategy giving the open period after the n-th consecutive trip; default
            ``ExponentialBackoff(base=1.0, cap=30.0, jitter="equal")``.
        probe_timeout: seconds after which an unreported half-open probe is given up and another
            caller may probe; None = wait for the report forever.
        clock: monotonic time source in seconds (inject a fake clock in tests).
        on_state_change: ``callback(old_state, new_state)``, called outside the lock after each
            transition (metrics, logging). Exceptions from it propagate to the reporting caller.

    Raises:
        ConfigError: ``failure_threshold`` < 1 or ``probe_timeout`` <= 0.
    """

    def __init__(self, failure_threshold: int = 5, cooldown: Optional[Backoff] = None, *,
                 probe_timeout: Optional[float] = 10.0,
                 clock: Callable[[], float] = time.monotonic,
                 on_state_change: Optional[StateListener] = None) -> None:
        if failure_threshold < 1:
            raise ConfigError("failure_threshold", f"must be >= 1, got {failure_threshold!r}")
        if probe_timeout is not None and not probe_timeout > 0:
            raise ConfigError("probe_timeout", f"must be > 0 or None, got {probe_timeout!r}")
        self.failure_threshold = failure_threshold
        self.cooldown: Backoff = (cooldown if cooldown is not None
                                  else ExponentialBackoff(base=1.0, cap=30.0, jitter="equal"))
        self.probe_timeout = probe_timeout
        self._clock = clock
        self._on_state_change = on_state_change
        self._lock = threading.Lock()
        self._state = CLOSED
        #: True exactly while the state is closed: a plain attribute, so the hot path of a
        #: caller reads it without a property call (only the transitions write it).
        self.closed = True
        self._failures = 0          # consecutive failures while closed
        self._trips = 0             # consecutive trips without a close (drives the cool-down)
        self._retry_at = 0.0        # when open: the earliest probe time
        self._probe_started: Optional[float] = None
        self._opens = 0             # lifetime counters, for metrics
        self._rejected = 0
        self._probes = 0

    # -- queries -----------------------------------------------------------------------------

    @property
    def state(self) -> str:
        """``"closed"``, ``"open"`` or ``"half_open"`` (an open breaker whose cool-down has
        elapsed still says ``"open"`` until a caller asks :meth:`allow`)."""
        return self._state

    @property
    def consecutive_failures(self) -> int:
        """Failures since the last success while closed."""
        return self._failures

    def retry_in(self) -> float:
        """Seconds until an open breaker admits a probe (0.0 when not open)."""
        with self._lock:
            if self._state != OPEN:
                return 0.0
            return max(0.0, self._retry_at - self._clock())

    def snapshot(self) -> dict[str, object]:
        """A consistent metrics view: state, state_value, consecutive_failures, opens, probes,
        rejected, retry_in."""
        with self._lock:
            now = self._clock()
            return {
                "state": self._state,
                "state_value": STATE_VALUES[self._state],
                "consecutive_failures": self._failures,
                "opens": self._opens,
                "probes": self._probes,
                "rejected": self._rejected,
                "retry_in": max(0.0, self._retry_at - now) if self._state == OPEN else 0.0,
            }

    # -- decisions ---------------------------------------------------------------------------

    def allow(self) -> bool:
        """May the caller try the protected call now? If True, it must report the outcome."""
        with self._lock:
            if self._state == CLOSED:
                return True
            now = self._clock()
            if self._state == OPEN:
                if now < self._retry_at:
                    self._rejected += 1
                    return False
                transition = self._set_state(HALF_OPEN)
                self._grant_probe(now)
            else:  # half-open: one probe at a time
                started = self._probe_started
                if started is not None and (self.probe_timeout is None
                                            or now - started < self.probe_timeout):
                    self._rejected += 1
                    return False
                transition = None
                self._grant_probe(now)
        self._notify(transition)
        return True

    def record_success(self) -> None:
        """The allowed call succeeded: reset failures; a half-open breaker closes."""
        if self.closed and not self._failures:
            # Nothing to change, the common case: skip the lock. A failure recorded by
            # another thread meanwhile is simply ordered after this success.
            return
        with self._lock:
            if self._state == OPEN:  # admitted before the trip: stale news
                return
            self._failures = 0
            if self._state == CLOSED:
                return
            transition = self._close()
        self._notify(transition)

    def record_failure(self) -> None:
        """The allowed call failed: count it; trip at the threshold or when a probe fails."""
        with self._lock:
            if self._state == OPEN:  # admitted before the trip: do not extend the cool-down
                return
            if self._state == CLOSED:
                self._failures += 1
                if self._failures < self.failure_threshold:
                    return
            transition = self._trip()
        self._notify(transition)

    def reset(self) -> None:
        """Force the closed state and forget the trip history (e.g. after reconfiguration)."""
        with self._lock:
            transition = self._close() if self._state != CLOSED else None
            self._failures = 0
        self._notify(transition)

    # -- internals (called with the lock held) -----------------------------------------------

    def _grant_probe(self, now: float) -> None:
        self._probe_started = now
        self._probes += 1

    def _trip(self) -> Optional[tuple[str, str]]:
        self._trips += 1
        self._opens += 1
        self._retry_at = self._clock() + max(0.0, self.cooldown.compute(self._trips))
        self._probe_started = None
        self._failures = 0
        return self._set_state(OPEN)

    def _close(self) -> Optional[tuple[str, str]]:
        self._trips = 0
        self._failures = 0
        self._probe_started = None
        return self._set_state(CLOSED)

    def _set_state(self, new: str) -> Optional[tuple[str, str]]:
        old, self._state = self._state, new
        self.closed = new == CLOSED
        return (old, new) if old != new else None

    def _notify(self, transition: Optional[tuple[str, str]]) -> None:
        # Outside the lock: a listener may read snapshot() or take its own locks.
        if transition is not None and self._on_state_change is not None:
            self._on_state_change(*transition)

    def __repr__(self) -> str:
        return (f"<CircuitBreaker {self._state} failures={self._failures}/"
                f"{self.failure_threshold} opens={self._opens}>")
