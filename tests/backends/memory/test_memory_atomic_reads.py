"""The lock-free read path of the memory backend under real threads."""
from __future__ import annotations

import threading

import pytest

from fbacache import CacheManager, NATIVE
from fbacache.backends.memory import MemoryBackend, _atomic_reads

from manager_support import stress


def test_atomic_reads_only_where_they_are_safe():
    # The lock-free decision moved from a Python closure into the store (fbacache._core.Store).
    manager = CacheManager(serialization_format="none", max_entries=10)
    assert manager._backend.store.lock_free == NATIVE
    assert manager._backend.store.lock_free == _atomic_reads(manager._backend._index,
                                                             manager._backend._timer)
    with_clock = CacheManager(serialization_format="none", max_entries=10, timer=lambda: 0.0)
    assert not with_clock._backend.store.lock_free, "an injected Python clock takes the lock"


@pytest.mark.skipif(not NATIVE, reason="the lock-free path needs the compiled core")
def test_lock_free_readers_and_locked_writers_keep_the_index_consistent():
    cache = CacheManager(serialization_format="none", max_entries=500, eviction_policy="lfu",
                         default_ttl=0.05)
    backend = cache._backend
    assert isinstance(backend, MemoryBackend) and _atomic_reads(backend._index, backend._timer)
    ops = stress(60_000)
    errors = []

    def reader(seed):
        try:
            for i in range(ops):
                value = cache.get(f"k{(i * seed) % 2000}")
                assert value is None or value.startswith("v")
                cache.get((i % 7, "tuple keys take the lock"))
        except Exception as exc:  # noqa: BLE001 - reported below
            errors.append(exc)

    def writer(seed):
        try:
            for i in range(ops):
                key = f"k{(i * seed) % 2000}"
                if i % 5 == 0:
                    cache.delete(key)
                else:
                    cache.set(key, f"v{i}", ttl=None if i % 3 else 0.01)
                if i % 997 == 0:
                    cache.set((i % 7, "tuple keys take the lock"), "v")
        except Exception as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=reader, args=(s,)) for s in (1, 3, 7)]
    threads += [threading.Thread(target=writer, args=(s,)) for s in (5, 11)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors[:3]
    backend._index._check()
    assert len(backend._index) <= 500
