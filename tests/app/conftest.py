"""Fixtures for the application-layer tests: a hand-moved monotonic clock and managers."""
from __future__ import annotations

import os

import pytest

from fbacache import CacheManager


def stress(n: int, minimum: int = 5) -> int:
    """Scale a loop count by FBACACHE_STRESS (default 1.0; CI may lower it, never to zero)."""
    return max(minimum, int(n * float(os.environ.get("FBACACHE_STRESS", "1"))))


class FakeClock:
    """A monotonic clock the test moves by hand (injected as ``timer``)."""

    def __init__(self, start: float = 1000.0) -> None:
        self.now = start

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_manager(clock):
    """Build managers on the fake clock; stops them after the test."""
    made = []

    def make(**kwargs) -> CacheManager:
        kwargs.setdefault("timer", clock)
        m = CacheManager(**kwargs)
        made.append(m)
        return m

    yield make
    for m in made:
        m.close()


@pytest.fixture
def manager(make_manager) -> CacheManager:
    return make_manager()
