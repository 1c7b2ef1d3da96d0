"""Session-wide checks shared by every test package."""
from __future__ import annotations

import gc
import os
import sys
import threading
import time
from typing import Iterator

import pytest

from fbacache import CacheManager
from fbacache.testing.clock import ManualClock

# the session fixture ``core`` and the second copy of the mapping classes on the twin
from core_impls import CoreImpl, load_core  # noqa: E402  (tests/ is on sys.path)


def pytest_sessionstart(session: pytest.Session) -> None:
    """Fail fast when CI expects the compiled core (and metrics' compiled walker) but a twin
    was loaded."""
    if os.environ.get("FBACACHE_REQUIRE_EXTENSIONS") == "1" and not os.environ.get(
        "FBACACHE_NO_EXTENSIONS"
    ):
        import fbacache

        if not fbacache.NATIVE:
            raise pytest.UsageError(
                "FBACACHE_REQUIRE_EXTENSIONS=1 but the compiled core did not load "
                f"(fbacache.CORE_IMPLEMENTATION={fbacache.CORE_IMPLEMENTATION!r})"
            )
        from fbacache.fba import tally  # the walker of `maintain metrics`, built with the core

        if tally.IMPLEMENTATION != "c" and sys.platform != "win32":
            raise pytest.UsageError(
                "FBACACHE_REQUIRE_EXTENSIONS=1 but the compiled walker of metrics "
                "(fbacache.fba._tally_c) did not load")


@pytest.hookimpl(hookwrapper=True)
def pytest_collect_file(file_path, parent):  # type: ignore[no-untyped-def]
    """Doctests are collected from the package only (pyproject: --doctest-modules).

    Under tests/ a doctest collector would import conftest.py files and helper scripts a second
    time, by basename, where several share the name ``conftest``.
    """
    outcome = yield
    outcome.force_result([c for c in outcome.get_result()
                          if type(c).__name__ != "DoctestModule"])


def _subscribers() -> set[threading.Thread]:
    return {t for t in threading.enumerate() if t.name == "fbacache-invalidation"}


@pytest.fixture(autouse=True)
def no_leaked_subscriber() -> Iterator[None]:
    """A test leaves no tiered-backend subscriber thread behind (closed, stopped or dropped
    managers all end theirs). A leaked one keeps a Redis connection and PINGs the session
    server, which other tests count commands on."""
    before = _subscribers()
    yield
    deadline = time.monotonic() + 5.0
    while _subscribers() - before and time.monotonic() < deadline:
        gc.collect()  # a dropped manager ends its thread once collected
        time.sleep(0.02)
    leaked = _subscribers() - before
    assert not leaked, f"{len(leaked)} invalidation subscriber thread(s) outlived the test"


@pytest.fixture(scope="session", params=["c", "py"])
def core(request: pytest.FixtureRequest) -> CoreImpl:
    """Each core implementation in turn, in the same run: ``.Index`` and ``.caches`` (the
    cachetools-compatible classes built on that core).

    "c" is skipped when the compiled core is not loaded (``FBACACHE_NO_EXTENSIONS=1``, or no
    compiler), and fails instead when ``FBACACHE_REQUIRE_EXTENSIONS=1`` expects it: otherwise a
    broken build would pass by testing the twin twice.
    """
    impl = load_core(request.param)
    if impl is None:
        if os.environ.get("FBACACHE_REQUIRE_EXTENSIONS") == "1" and not os.environ.get(
                "FBACACHE_NO_EXTENSIONS"):
            pytest.fail("FBACACHE_REQUIRE_EXTENSIONS=1 but the compiled core did not load")
        pytest.skip("compiled core not loaded (FBACACHE_NO_EXTENSIONS or no compiler)")
    return impl


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
