"""Session-wide checks shared by every test package."""
from __future__ import annotations

import os

import pytest


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


def stress(count: int, floor: int = 5) -> int:
    """Scale a stress-loop count by FBACACHE_STRESS (never below ``floor``)."""
    return max(floor, int(count * float(os.environ.get("FBACACHE_STRESS", "1"))))
