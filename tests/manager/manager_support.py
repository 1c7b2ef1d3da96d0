"""Helpers shared by the CacheManager tests (a real clock stand-in, stress scaling)."""
from __future__ import annotations

from fbacache.testing.support import ManualClock as FakeClock
from fbacache.testing.support import stress

__all__ = ["FakeClock", "stress"]
