"""The Redis backend's hot paths read and count exactly what the general paths did.

Real server (the session fixture), real fork; the general path (``_call``) is what a call
takes right after a fork or while outage keys wait to be reconciled.
"""
from __future__ import annotations

import os
import threading
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import fbacache.backends.redis.forksafe as forksafe
from fbacache import CacheManager
from fbacache.backends.redis.client import KeyCodec
from fbacache.backends.redis.envelope import wrap_entry
from fbacache.metrics import Counter
from fork_support import check_in_fork

keys = st.one_of(st.text(max_size=12), st.binary(max_size=12),
                 st.integers(-10**30, 10**30))


@settings(max_examples=200, deadline=None)
@given(namespace=st.text(max_size=8), batch=st.lists(keys, max_size=10))
def test_encode_many_is_encode_per_key(namespace: str, batch: list[Any]) -> None:
    codec = KeyCodec(namespace)
    assert codec.encode_many(batch) == [codec.encode(k) for k in batch]


def test_encode_many_refuses_what_encode_refuses() -> None:
    class Text(str):
        pass

    codec = KeyCodec("ns")
    assert codec.encode_many([Text("a")]) == [codec.encode("a")]
    for bad in (True, 1.5, ("t",)):
        with pytest.raises(TypeError):
            codec.encode_many(["ok", bad])


def _backend_counts(cache: CacheManager) -> tuple[int, int, int]:
    s = cache.backend.stats()
    return s["hits"], s["misses"], s["backend_corrupt_envelopes"]


def test_get_many_reads_and_counts_every_kind_of_entry(redis_url: str) -> None:
    cache = CacheManager.from_url(redis_url, key_prefix="hot")
    try:
        backend, raw = cache.backend, cache.backend.client
        cache.set("plain", 1)
        cache.set("meta", 2, metadata={"v": 1})
        raw.set(backend.codec.encode("junk"), b"\x05not an envelope")
        raw.set(backend.codec.encode("empty"), b"")
        raw.set(backend.codec.encode("short"), b"\x01\x00\x00")
        names = ["plain", "meta", "junk", "empty", "short", "absent", "plain"]
        one_by_one = {k: backend.get(k) for k in dict.fromkeys(names)}
        single = _backend_counts(cache)
        assert single == (2, 4, 3)  # 3 unreadable envelopes are counted misses
        batch = backend.get_many(names)
        assert batch == {k: v for k, v in one_by_one.items() if v is not None}
        assert _backend_counts(cache) == tuple(2 * n for n in single)  # same counts again
        assert cache.get_many(names) == {"plain": 1, "meta": 2}
    finally:
        cache.close()


def test_writes_read_back_through_both_paths(redis_url: str) -> None:
    cache = CacheManager.from_url(redis_url, key_prefix="hot")
    try:
        backend = cache.backend
        cache.set("t", "x", ttl=30)
        cache.set("forever", "y")
        cache.set_many({"a": 1, "b": 2}, ttl=30)
        cache.set_many({"c": 3})
        assert 29 < cache.ttl("t") <= 30 and cache.ttl("forever") == float("inf")
        assert 29 < cache.ttl("a") <= 30 and cache.ttl("c") == float("inf")
        raw = backend.client.get(backend.codec.encode("t"))
        assert raw == wrap_entry(cache._codec.encode("x"))  # the envelope as documented
        # the general path (as after a fork) reads the same
        assert backend.peek("t") == backend.get("t") == raw[1:]
    finally:
        cache.close()


@pytest.mark.skipif(not hasattr(os, "fork"), reason="needs os.fork")
def test_a_forked_child_sees_a_new_generation_and_a_fresh_lock() -> None:
    parent_generation, parent_lock = forksafe.generation, forksafe.fork_lock()
    assert check_in_fork(lambda: forksafe.generation == parent_generation + 1
                         and forksafe.fork_lock() is not parent_lock)
    assert forksafe.generation == parent_generation and forksafe.fork_lock() is parent_lock


def test_counter_add_is_exact_under_threads() -> None:
    counter = Counter()

    def work() -> None:
        for i in range(2000):
            counter.add(i % 7)
            counter.inc()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert counter.value == 4 * (sum(i % 7 for i in range(2000)) + 2000)
    counter.add(-3)  # nothing to count
    assert counter.value == 4 * (sum(i % 7 for i in range(2000)) + 2000)
