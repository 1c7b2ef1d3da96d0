"""A tiered manager's subscriber thread follows the manager's life: stop, start, close, drop.

The thread holds a connection and PINGs the server; one left behind by a ``with`` block kept
running for the life of the process (and PINGed the session server other tests count on).
"""
from __future__ import annotations

import gc
import threading
import time

import pytest

from fbacache import CacheManager
from fbacache.errors import ManagerNotRunning

OPTIONS = {"backend_config": {"invalidation_ping_interval": 0.2}, "key_prefix": "tiered-life"}


def subscribers() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "fbacache-invalidation"]


def wait_for(condition, timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        time.sleep(0.01)
    return condition()


def test_leaving_a_with_block_stops_the_subscriber_and_entering_restarts_it(redis_url):
    before = len(subscribers())
    with CacheManager.from_url(redis_url, tiered=True, **OPTIONS) as cache:
        assert len(subscribers()) == before + 1
        assert wait_for(lambda: cache.backend.l1_enabled)
        cache.set("k", "v1")
    assert len(subscribers()) == before          # joined, not merely asked to stop
    assert not cache.backend.l1_enabled          # and L1 is bypassed while stopped
    # written by another process while ours was stopped: no invalidation reached us
    with CacheManager.from_url(redis_url, **OPTIONS) as other:
        other.set("k", "v2")
    with cache:
        assert len(subscribers()) == before + 1
        assert cache.get("k") == "v2"            # L1 was flushed: never the stale copy
        assert wait_for(lambda: cache.backend.l1_enabled)
        assert cache.get("k") == "v2"
    cache.close()
    assert len(subscribers()) == before


def test_a_closed_manager_cannot_be_restarted(redis_url):
    cache = CacheManager.from_url(redis_url, tiered=True, **OPTIONS)
    cache.close()
    cache.close()  # harmless
    with pytest.raises(ManagerNotRunning, match="closed"):
        cache.start()
    with pytest.raises(ManagerNotRunning):
        with cache:
            pass
    assert not cache.is_running


def test_a_dropped_manager_ends_its_subscriber(redis_url):
    before = len(subscribers())
    cache = CacheManager.from_url(redis_url, tiered=True, **OPTIONS)
    cache.set("k", 1)
    assert len(subscribers()) == before + 1
    del cache
    gc.collect()
    assert wait_for(lambda: len(subscribers()) == before)


def test_stop_and_start_outside_a_with_block(redis_url):
    cache = CacheManager.from_url(redis_url, tiered=True, **OPTIONS)
    try:
        before = len(subscribers())
        cache.stop()
        cache.stop()  # twice: one suspend
        assert len(subscribers()) == before - 1
        with pytest.raises(ManagerNotRunning):
            cache.get("k")
        cache.start()
        cache.start()  # twice: one subscriber
        assert len(subscribers()) == before
        assert cache.set("k", 2) and cache.get("k") == 2
    finally:
        cache.close()
