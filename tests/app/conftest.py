"""Fixtures for the application-layer tests (``clock`` and ``make_manager`` come from tests/conftest.py)."""
from __future__ import annotations

import pytest

from fbacache import CacheManager
from fbacache.testing.support import stress

__all__ = ["stress"]


@pytest.fixture
def manager(make_manager) -> CacheManager:
    return make_manager()
