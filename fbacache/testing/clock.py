"""Small helpers for tests of code that uses fbacache: a hand-moved clock and stress scaling."""
from __future__ import annotations

import os

__all__ = ["ManualClock", "stress"]


class ManualClock:
    """A monotonic clock a test moves by hand; pass it as ``timer=``.

    >>> clock = ManualClock(10.0)
    >>> clock.advance(2.5); clock()
    12.5
    """

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        """Move the clock by ``seconds`` (negative values move it back)."""
        self.now += seconds


def stress(count: int, floor: int = 5) -> int:
    """Scale a stress-loop count by ``FBACACHE_STRESS`` (default 1.0), never below ``floor``.

    >>> stress(200) >= 5
    True
    """
    return max(floor, int(count * float(os.environ.get("FBACACHE_STRESS", "1"))))
