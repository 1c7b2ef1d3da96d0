"""Helpers shared by the CacheManager tests (a real clock stand-in, stress scaling)."""
from __future__ import annotations

from fbacache.testing.clock import ManualClock as FakeClock
from fbacache.testing.clock import stress

__all__ = ["FakeClock", "stress"]
