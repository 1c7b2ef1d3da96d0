"""Backoff strategies: how long to wait after the n-th consecutive failure (redis-py's shape).

Every strategy has ``compute(failures) -> seconds`` where ``failures`` counts consecutive failures
so far (1 after the first); ``failures <= 0`` means "no failure yet" and gives 0. Strategies hold
no per-caller state, so one instance can serve many threads and connections.

Why jitter: when a shared server dies, every client fails at the same moment; without jitter they
all retry in lock-step and hit the restarted server as one wave. *Full* jitter spreads retries
uniformly over ``[0, d]`` (fewest collisions); *equal* jitter over ``[d/2, d]`` (keeps a minimum
wait, useful for a circuit breaker's cool-down). See "Exponential Backoff And Jitter" (AWS
Architecture Blog, 2015).

    >>> import random
    >>> b = ExponentialBackoff(base=0.1, cap=1.0, jitter="none")
    >>> [b.compute(n) for n in range(6)]
    [0.0, 0.1, 0.2, 0.4, 0.8, 1.0]
    >>> full = ExponentialBackoff(base=0.1, cap=1.0, jitter="full", rng=random.Random(7))
    >>> 0.0 <= full.compute(3) <= 0.4
    True
"""
from __future__ import annotations

import random
from typing import Protocol, runtime_checkable

from fbacache.errors import ConfigError

__all__ = ["Backoff", "NoBackoff", "ConstantBackoff", "ExponentialBackoff", "JITTER_MODES"]

JITTER_MODES = ("none", "full", "equal")


class RandomSource(Protocol):
    """Anything with ``random() -> float`` in ``[0, 1)``, e.g. ``random.Random``."""

    def random(self) -> float: ...


@runtime_checkable
class Backoff(Protocol):
    """A backoff strategy: seconds to wait after ``failures`` consecutive failures."""

    def compute(self, failures: int) -> float: ...


class NoBackoff:
    """Retry immediately."""

    def compute(self, failures: int) -> float:
        """Always 0.0."""
        return 0.0

    def __repr__(self) -> str:
        return "NoBackoff()"


class ConstantBackoff:
    """The same wait after every failure.

    Raises:
        ConfigError: ``seconds`` is negative.
    """

    def __init__(self, seconds: float) -> None:
        if not seconds >= 0:
            raise ConfigError("backoff", f"seconds must be >= 0, got {seconds!r}")
        self.seconds = float(seconds)

    def compute(self, failures: int) -> float:
        """``seconds`` after any failure, 0.0 before the first."""
        return self.seconds if failures > 0 else 0.0

    def __repr__(self) -> str:
        return f"ConstantBackoff({self.seconds!r})"


class ExponentialBackoff:
    """``min(cap, base * 2**(failures-1))``, optionally jittered.

    Parameters:
        base: wait after the first failure (before jitter), seconds.
        cap: the largest wait, seconds.
        jitter: ``"full"`` (uniform in ``[0, d]``), ``"equal"`` (uniform in ``[d/2, d]``) or
            ``"none"``.
        rng: source of randomness (``random()`` in [0, 1)); inject a seeded ``random.Random`` for
            reproducible tests. Default: a private ``random.Random``.

    Raises:
        ConfigError: base or cap negative, cap < base, or an unknown jitter mode.
    """

    def __init__(self, base: float = 0.01, cap: float = 1.0, jitter: str = "full",
                 rng: RandomSource | None = None) -> None:
        if not base >= 0:
            raise ConfigError("backoff", f"base must be >= 0, got {base!r}")
        if not cap >= base:
            raise ConfigError("backoff", f"cap must be >= base, got cap={cap!r} base={base!r}")
        if jitter not in JITTER_MODES:
            raise ConfigError("backoff", f"jitter must be one of {JITTER_MODES}, got {jitter!r}")
        self.base = float(base)
        self.cap = float(cap)
        self.jitter = jitter
        self._rng: RandomSource = rng if rng is not None else random.Random()

    def ceiling(self, failures: int) -> float:
        """The un-jittered wait after ``failures`` failures (upper bound of the jittered one)."""
        if failures <= 0 or self.base == 0:
            return 0.0
        # Clamp the exponent: 2**10000 would overflow float, and past 2**64 it is capped anyway.
        return min(self.cap, self.base * 2.0 ** min(failures - 1, 64))

    def compute(self, failures: int) -> float:
        """Seconds to wait after ``failures`` consecutive failures."""
        ceiling = self.ceiling(failures)
        if self.jitter == "full":
            return ceiling * self._rng.random()
        if self.jitter == "equal":
            return ceiling / 2 + ceiling / 2 * self._rng.random()
        return ceiling

    def __repr__(self) -> str:
        return f"ExponentialBackoff(base={self.base!r}, cap={self.cap!r}, jitter={self.jitter!r})"
