"""The adaptive policy's referee: miniature simulations choose the window size.

On a recency-biased stream (a moving front of keys, no frequency to exploit) the window must
grow to the whole capacity, where the policy is LRU, and the cache must end within a point of
``fbacache.LRUCache`` on the same requests; on a loop that follows it must come back to the
small window that wins loops.  Checked through the public classes on both cores, at a
capacity where the simulations are exact (<= 1024 entries) and one where they sample.
"""
from __future__ import annotations

import random
from collections import OrderedDict
from typing import Iterator

import pytest

import fbacache
from fbacache import _core
from fbacache._core import PyIndex
from fbacache._core._adaptive_py import SIM_SIZE, AdaptivePolicy
from fbacache.caches import _cache_base


class _TwinAdaptiveCache(_cache_base(PyIndex)):  # type: ignore[misc]
    """``fbacache.AdaptiveCache``'s mapping layer on the pure-Python twin core."""

    _policy_name = "adaptive"


class _TwinLRUCache(_cache_base(PyIndex)):  # type: ignore[misc]
    """``fbacache.LRUCache``'s mapping layer on the pure-Python twin core."""

    _policy_name = "lru"


def recency_stream(n: int, cap: int, seed: int) -> Iterator[int]:
    """Keys near a front that advances every 3 requests (exponential distance, mean ``cap``)."""
    rng = random.Random(seed)
    for i in range(n):
        yield i // 3 + int(rng.expovariate(1.0 / cap))


def hits_of(cache: object, keys: list) -> int:
    """Replay "get, and on a miss set" through a public cache; return the hits."""
    miss = object()
    hits = 0
    for k in keys:
        if cache.get(k, miss) is miss:  # type: ignore[attr-defined]
            cache[k] = k  # type: ignore[index]
        else:
            hits += 1
    return hits


@pytest.mark.parametrize("impl", ["c", "py"])
@pytest.mark.parametrize("cap,n", [(300, 60000), (2000, 100000)])
def test_recency_stream_ends_within_a_point_of_lru(impl: str, cap: int, n: int) -> None:
    """No frequency to exploit: the referee must take the policy to (nearly) LRU's hit ratio."""
    if impl == "c":
        if not _core.NATIVE:
            pytest.skip("compiled core not built")
        adaptive, lru = fbacache.AdaptiveCache(cap), fbacache.LRUCache(cap)
    else:
        adaptive, lru = _TwinAdaptiveCache(cap), _TwinLRUCache(cap)
    keys = list(recency_stream(n, cap, 7))
    ours, theirs = hits_of(adaptive, keys), hits_of(lru, keys)
    assert ours >= theirs - 0.01 * n, (ours / n, theirs / n)
    adaptive._check()  # type: ignore[attr-defined]


@pytest.mark.parametrize("cap", [300, 2 * SIM_SIZE])
def test_window_reaches_lru_and_comes_back_for_a_loop(cap: int) -> None:
    """The window grows to the whole capacity on recency, then shrinks again on a loop."""
    p = AdaptivePolicy(cap, 1)
    resident: "OrderedDict[int, None]" = OrderedDict()

    def request(k: int) -> bool:
        if k in resident:
            p.access(k)
            return True
        p.miss(k)
        while len(resident) >= cap:
            v = p.victim()
            p.remove(v)
            del resident[v]
        p.insert(k)
        resident[k] = None
        return False

    for k in recency_stream(60000 if cap <= SIM_SIZE else 120000, cap, 3):
        request(k)
    assert p.segment_sizes()["window_max"] == cap, p.segment_sizes()
    p.check(set(resident))
    loop = [10**9 + i for i in range(cap * 3 // 2)]  # a cyclic scan LRU gets nothing from
    hits = 0
    rounds = 40
    for _ in range(rounds):
        for k in loop:
            hits += request(k)
    assert p.segment_sizes()["window_max"] < cap // 4, p.segment_sizes()
    # Belady keeps cap - 1 of the loop's keys: at least half of that, although it started as LRU
    assert hits > 0.5 * (cap - 1) / len(loop) * rounds * len(loop)
    p.check(set(resident))
