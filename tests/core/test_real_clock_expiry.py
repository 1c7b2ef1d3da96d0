"""Expiry on the real clock (``time.monotonic``, no injected timer).

The compiled core decides that an entry is live from the kernel's coarse clock when its
deadline is far away, and reads the precise clock near the deadline (``_index_c.pyx``,
"The coarse clock"). Neither shortcut may show: an entry is live until
``time.monotonic()`` reaches its deadline and gone from the first read after, never
served late by a clock tick (a coarse-only check would be, by up to 1-10 ms) and never
dropped early. Each test waits on the clock itself, so none depends on the machine's speed.
"""
from __future__ import annotations

import time

import pytest

from fbacache import CacheManager

# deadlines closer than the coarse check's margin (~0.1 s) and farther than it
TTLS = [0.0002, 0.02, 0.3]


def _wait_until(t: float) -> None:
    while time.monotonic() < t:
        pass


@pytest.mark.parametrize("ttl", TTLS)
def test_an_index_entry_lives_exactly_until_its_deadline(Index, ttl):
    idx = Index("lru")  # the default timer: time.monotonic
    for round_ in range(5):
        key = f"k{round_}"
        deadline = time.monotonic() + ttl
        idx.set(key, round_, expires_at=deadline)
        found = idx.get(key)
        if found is None:  # allowed only if the deadline has really passed
            assert time.monotonic() >= deadline, "an entry expired before its deadline"
        else:
            assert found == round_
        _wait_until(deadline)
        assert idx.get(key) is None, "an entry was served after its deadline"
        assert key not in idx
    idx._check()


def test_a_far_deadline_is_a_hit_and_counts_as_one(Index):
    idx = Index("lru")
    idx.set("far", 1, expires_at=time.monotonic() + 3600)
    assert [idx.get("far") for _ in range(3)] == [1, 1, 1]
    assert idx.hits == 3 and idx.expirations == 0


@pytest.mark.parametrize("ttl", TTLS)
def test_a_manager_entry_is_gone_as_soon_as_its_ttl_has_passed(ttl):
    cache = CacheManager(default_ttl=3600)
    for round_ in range(5):
        key = f"k{round_}"
        before = time.monotonic()
        cache.set(key, round_, ttl=ttl)
        after = time.monotonic()
        found = cache.get(key)
        if found is None:
            assert time.monotonic() >= before + ttl, "an entry expired before its ttl"
        else:
            assert found == round_
        _wait_until(after + ttl)  # the deadline set() computed is at most this
        assert cache.get(key) is None, "an entry was served after its ttl"
        assert not cache.exists(key)
