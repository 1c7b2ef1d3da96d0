"""The expiry queue: sorted list while deadlines arrive in order, heap after the first that does not.

The compiled core keeps deadlines that arrive in order (a constant TTL on a monotonic
clock) in a linked list and turns it into a heap on the first earlier deadline; the twin
always uses a heap of (deadline, set order).  Both must sweep the same entries in the
same order, before and after the switch, with ties first-set first.
"""
from __future__ import annotations

import random

import pytest

from fbacache import TTLCache, _core
from fbacache._core import _index_py

pytestmark = pytest.mark.skipif(not _core.NATIVE, reason="compares the compiled core with the twin")


def _pair(now, **kw):
    from fbacache._core import _index_c

    return [impl("lru", timer=lambda: now[0], **kw) for impl in (_index_c.Index, _index_py.Index)]


def _both(pair, op, *args):
    results = [getattr(idx, op)(*args) for idx in pair]
    assert results[0] == results[1], (op, args, results)
    for idx in pair:
        idx._check()
    return results[0]


def test_constant_ttl_then_out_of_order_deadline_sweeps_like_the_twin():
    now = [0.0]
    pair = _pair(now, max_entries=64)
    for idx in pair:
        idx.item_ttl = 5.0
    rng = random.Random(7)
    for step in range(600):
        now[0] += rng.choice((0.0, 0.0, 0.25, 1.0))  # ties are common
        k = rng.randrange(100)
        for idx in pair:
            idx[k] = step  # in-order deadlines: the list
        if step % 7 == 0:
            _both(pair, "get", rng.randrange(100))
        if step % 11 == 0:
            _both(pair, "expire")
        for idx in pair:
            idx._check()
        if step == 300:
            # an earlier deadline than the newest: the compiled queue becomes a heap
            _both(pair, "set_expiry", k, now[0] + 0.5)
    assert _both(pair, "keys")
    now[0] += 100
    swept = _both(pair, "expire")
    assert swept and len(pair[0]) == 0


def test_tied_deadlines_expire_first_set_first_in_both_modes():
    now = [10.0]
    pair = _pair(now)
    for idx in pair:
        for k in "abcd":
            idx.set(k, k, 1, 20.0)
        idx.set("b", "b2", 1, 20.0)  # re-set: moves behind its ties
    assert [k for k, _ in pair[0].expire(20.0)] == ["a", "c", "d", "b"]
    assert [k for k, _ in pair[1].expire(20.0)] == ["a", "c", "d", "b"]
    for idx in pair:
        for k in "abcd":
            idx.set(k, k, 1, 30.0)
        idx.set("x", "x", 1, 25.0)  # out of order: heap from here on
        idx.set("c", "c2", 1, 30.0)
        idx._check()
    expected = ["x", "a", "b", "d", "c"]
    assert [k for k, _ in pair[0].expire(30.0)] == expected
    assert [k for k, _ in pair[1].expire(30.0)] == expected


def test_clearing_a_deadline_and_clear_reset_the_queue():
    now = [0.0]
    pair = _pair(now, max_entries=8)
    for idx in pair:
        for i in range(8):
            idx.set(i, i, 1, 1.0 + i)
        assert idx.set_expiry(3, None)
        assert idx.expiry(3) is None
        idx.set(9, 9, 1, 0.5)  # heap mode, evicts the LRU key 0
        idx._check()
    now[0] = 5.0
    assert _both(pair, "keys") == [3, 5, 6, 7]  # 3 never expires; 0 was evicted
    for idx in pair:
        idx.clear()
        idx.set("k", 1, 1, 2.0)  # back to a list after clear()
        idx.set("j", 1, 1, 3.0)
        idx._check()
    now[0] = 2.5
    assert _both(pair, "keys") == ["j"]


def test_ttlcache_clock_going_backwards_keeps_every_entry_reachable():
    now = [100.0]
    cache = TTLCache(maxsize=50, ttl=10, timer=lambda: now[0])
    for i in range(40):
        cache[i] = i
        now[0] += -3.0 if i % 5 == 0 else 1.0  # deadlines out of order now and then
    assert all(cache.get(i) == i for i in range(40) if i in cache)
    now[0] += 1000
    cache.expire()
    assert len(cache) == 0 and cache.currsize == 0
