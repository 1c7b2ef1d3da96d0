"""Session-wide checks shared by every test package."""
from __future__ import annotations

import os

import pytest

from fbacache import CacheManager
from fbacache.testing.clock import ManualClock


def pytest_sessionstart(session: pytest.Session) -> None:
    """Fail fast when CI expects the compiled core but the twin was loaded."""
    if os.environ.get("FBACACHE_REQUIRE_EXTENSIONS") == "1" and not os.environ.get(
        "FBACACHE_NO_EXTENSIONS"
    ):
        import fbacache

        if not fbacache.NATIVE:
            raise pytest.UsageError(
                "FBACACHE_REQUIRE_EXTENSIONS=1 but the compiled core did not load "
                f"(fbacache.CORE_IMPLEMENTATION={fbacache.CORE_IMPLEMENTATION!r})"
            )


@pytest.fixture
def clock() -> ManualClock:
    """A hand-moved monotonic clock (inject it as ``timer=``)."""
    return ManualClock()


@pytest.fixture
def make_manager(clock):
    """Build CacheManagers on the test clock; stops them after the test."""
    made = []

    def make(**kwargs) -> CacheManager:
        kwargs.setdefault("timer", clock)
        manager = CacheManager(**kwargs)
        made.append(manager)
        return manager

    yield make
    for manager in made:
        manager.close()


@pytest.fixture
def manager(make_manager) -> CacheManager:
    """A CacheManager on the test clock (the former application-test package's fixture)."""
    return make_manager()
