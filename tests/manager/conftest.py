"""Fixtures for the CacheManager tests: an injectable clock and a manager factory."""
from __future__ import annotations

import pytest
from manager_support import FakeClock

from fbacache import CacheManager, CacheManagerConfig


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def make_manager(clock):
    """Build managers on the fake clock; stops them after the test."""
    made = []

    def make(**kwargs) -> CacheManager:
        kwargs.setdefault("timer", clock)
        m = CacheManager(CacheManagerConfig(**kwargs))
        made.append(m)
        return m

    yield make
    for m in made:
        m.stop()
