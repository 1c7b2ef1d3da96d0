"""Helpers shared by the CacheManager tests (a real clock stand-in, stress scaling)."""
from __future__ import annotations

import os


def stress(n: int, minimum: int = 5) -> int:
    """Scale a loop count by FBACACHE_STRESS (default 1.0; CI may lower it)."""
    return max(minimum, int(n * float(os.environ.get("FBACACHE_STRESS", "1"))))


class FakeClock:
    """A monotonic clock the test moves by hand (injected as ``timer``)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds
