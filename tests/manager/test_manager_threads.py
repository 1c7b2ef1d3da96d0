"""Threads hammering one CacheManager: no invariant violation, exact counters.

8 threads x ``stress(200_000)`` mixed operations each with objects stored as they are,
and 8 x ``stress(50_000)`` with pickle+zlib (FBACACHE_STRESS scales
the counts; at 1.0 this file takes ~10-20 s on 2 cores). Values carry their key,
so a read returning another key's value (a torn index update) is detected.
"""
from __future__ import annotations

import random
import threading

import pytest
from manager_support import stress

from fbacache import CacheManager

THREADS = 8
KEYS = [f"key:{i}" for i in range(1500)]


def worker(m: CacheManager, tid: int, n: int, counts: dict, errors: list) -> None:
    rng = random.Random(tid)
    ops = rng.choices(range(8), weights=[50, 20, 8, 5, 5, 5, 4, 3], k=n)
    keys = rng.choices(KEYS, k=n)
    gets = sets = 0
    made = []

    def factory(key, i):
        made.append(1)
        return (key, tid, -i)
    try:
        for i in range(n):
            op, key = ops[i], keys[i]
            if op == 0:
                v = m.get(key)
                gets += 1
                if v is not None and v[0] != key:
                    raise AssertionError(f"{key} returned {v!r}")
            elif op == 1:
                m.set(key, (key, tid, i), ttl=None if i % 7 else 0.05)
                sets += 1
            elif op == 2:
                v = m.get_or_set(key, lambda: factory(key, i))
                gets += 1
                if v[0] != key:
                    raise AssertionError(f"get_or_set {key} returned {v!r}")
            elif op == 3:
                m.delete(key)
            elif op == 4:
                batch = keys[i:i + 5]
                for k, v in m.get_many(batch).items():
                    if v[0] != k:
                        raise AssertionError(f"get_many {k} returned {v!r}")
                gets += len(batch)
            elif op == 5:
                mapping = {k: (k, tid, i) for k in keys[i:i + 3]}
                m.set_many(mapping)
                sets += len(mapping)
            elif op == 6:
                m.touch(key, 1.0)
                m.ttl(key)
            else:
                m.exists(key)
    except BaseException as exc:  # reported by the main thread
        errors.append(exc)
    counts.update(gets=gets, sets=sets + len(made))


@pytest.mark.slow
@pytest.mark.parametrize("fmt, compression", [("none", None), ("pickle", "zlib")])
def test_many_threads_mixed_operations(fmt, compression):
    n = stress(200_000 if fmt == "none" else 50_000, floor=500)
    m = CacheManager(serialization_format=fmt, compression=compression, max_entries=1000,
                     compression_threshold=16)
    counts: dict = {}
    errors: list = []
    lock = threading.Lock()

    def run(tid):
        local: dict = {}
        worker(m, tid, n, local, errors)
        with lock:
            for k, v in local.items():
                counts[k] = counts.get(k, 0) + v

    threads = [threading.Thread(target=run, args=(t,)) for t in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(300)
    assert not any(t.is_alive() for t in threads)
    assert errors == []
    m.check()
    snap = m.get_metrics()
    # Counters are exact: core counters move under the backend lock, manager
    # counters are itertools.count (atomic under the GIL).
    assert snap["hits"] + snap["misses"] == counts["gets"]
    assert snap["sets"] == counts["sets"]
    assert snap["current_entries"] <= 1000
    assert snap["evictions"] > 0
    m.stop()
