"""Load the Redis fixtures plugin (unless the top-level conftest already did) and build managers.

This directory has no __init__.py, like tests/backends/redis: test modules are imported by their
basename, and tests/ is put on sys.path for redis_fixtures.
"""
from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable, Iterator

import pytest

from fbacache import CacheManager

_TESTS_DIR = str(Path(__file__).resolve().parents[2])
if _TESTS_DIR not in sys.path:
    sys.path.insert(0, _TESTS_DIR)

#: Short timeouts and cool-downs so fault tests finish in seconds.
FAST = {"socket_timeout": 0.2, "connect_timeout": 0.2, "retry_attempts": 2,
        "retry_deadline": 0.3, "failure_threshold": 3, "cooldown_base": 0.05,
        "cooldown_cap": 0.2, "invalidation_ping_interval": 0.2}


def pytest_configure(config: pytest.Config) -> None:
    if not config.pluginmanager.has_plugin("redis_fixtures"):
        config.pluginmanager.import_plugin("redis_fixtures")


@pytest.fixture
def make_manager() -> Iterator[Callable[..., CacheManager]]:
    """``make_manager(backend_type, url, serialization_format="msgpack", **backend_options)``;
    every manager is closed at the end of the test."""
    made: list[CacheManager] = []

    def make(backend_type: str, url: str, *, manager: dict[str, Any] | None = None,
             **options: Any) -> CacheManager:
        kwargs = {"serialization_format": "msgpack", "key_prefix": "test", **(manager or {})}
        m = CacheManager(backend_type=backend_type,
                         backend_config={"url": url, **FAST, **options}, **kwargs)
        made.append(m)
        return m

    yield make
    for m in made:
        m.close()
