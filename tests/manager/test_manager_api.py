"""CacheManager operations through the public API (memory backend, fake clock)."""
from __future__ import annotations

import math

import pytest

import fbacache
from fbacache import (
    CacheManager, CacheManagerConfig, ConfigError, EntryTooLarge, ManagerNotRunning,
    SerializationError,
)

CODECS = [("none", None), ("pickle", None), ("msgpack", "zlib"), ("json", "zstd")]


@pytest.fixture(params=CODECS, ids=lambda p: f"{p[0]}-{p[1]}")
def cache(request, make_manager):
    fmt, comp = request.param
    return make_manager(serialization_format=fmt, compression=comp, compression_threshold=32,
                        max_entries=1000)


def test_basic_operations(cache):
    assert cache.get("a") is None and cache.get("a", 7) == 7
    assert cache.set("a", {"x": [1, 2]}) is True
    assert cache.get("a") == {"x": [1, 2]}
    assert cache.exists("a") and "a" in cache and len(cache) == 1
    assert cache.delete("a") is True and cache.delete("a") is False
    assert not cache.exists("a")
    cache.set("n", None)
    assert cache.get("n", "default") is None  # a cached None is a hit
    cache.clear()
    assert len(cache) == 0


def test_ttl_expiry_touch(cache, clock):
    cache.set("a", 1, ttl=10)
    cache.set("b", 2)
    assert cache.ttl("a") == pytest.approx(10)
    assert cache.ttl("b") == math.inf and cache.ttl("zz") is None
    clock.advance(6)
    assert cache.touch("a", 10) is True and cache.touch("zz", 5) is False
    clock.advance(6)
    assert cache.get("a") == 1
    clock.advance(4)
    assert cache.get("a") is None and not cache.exists("a")
    assert cache.get_metrics()["expirations"] >= 1


def test_default_ttl_and_infinite_override(make_manager, clock):
    m = make_manager(default_ttl=5)
    m.set("d", 1)
    m.set("forever", 2, ttl=math.inf)
    clock.advance(5)
    assert m.get("d") is None and m.get("forever") == 2
    with pytest.raises(ConfigError) as info:
        m.set("x", 1, ttl=0)
    assert info.value.field == "ttl"


def test_batch_operations_and_aliases(cache):
    cache.set_many({"a": 1, "b": 2, "c": 3})
    assert cache.get_many(["a", "b", "zz"]) == {"a": 1, "b": 2}
    assert cache.get_multi(["c"]) == {"c": 3}
    assert cache.delete_many(["a", "zz"]) == 1
    cache.batch_set({"d": 4})
    assert cache.batch_delete(["b", "d"]) == 2
    assert cache.get_stats()["sets"] == 4 and cache.get_metrics()["deletes"] == 3


def test_keys_and_invalidate(cache):
    for k in ["user:1", "user:2", "user:10:profile", "product:1"]:
        cache.set(k, k)
    assert sorted(cache.keys()) == sorted(["user:1", "user:2", "user:10:profile", "product:1"])
    assert sorted(cache.keys("user:?")) == ["user:1", "user:2"]
    assert cache.keys("user:[2-3]") == ["user:2"]
    assert cache.invalidate("user:*") == 3
    assert cache.keys() == ["product:1"]


def test_metadata(cache):
    cache.set("a", 1, metadata={"source": "db"})
    cache.set("b", 2)
    assert cache.get_metadata("a") == {"source": "db"}
    assert cache.get_metadata("b") == {} and cache.get_metadata("zz") is None
    cache.set("a", 3)  # rewriting without metadata drops the old metadata
    assert cache.get_metadata("a") == {}


def test_metadata_never_outlives_its_entry(make_manager, clock):
    m = make_manager(max_entries=2)
    m.set("a", 1, ttl=1, metadata={"m": 1})
    clock.advance(2)
    assert m.get_metadata("a") is None
    m.set("b", 1, metadata={"m": 2})
    m.set("c", 1)
    m.set("d", 1)  # evicts b
    assert m.get_metadata("b") is None
    m.check()


def test_entry_too_large(make_manager):
    m = make_manager(max_entry_size=1000)
    with pytest.raises(EntryTooLarge):
        m.set("big", b"x" * 2000)
    small = make_manager(max_entry_size=1000, compression="zlib", compression_threshold=100)
    small.set("big", b"x" * 20000)  # the stored (compressed) bytes are what counts
    assert small.get("big") == b"x" * 20000
    objs = make_manager(serialization_format="none", max_entry_size=1000)
    with pytest.raises(EntryTooLarge):
        objs.set("big", b"x" * 2000)
    capped = make_manager(max_bytes=500, max_entry_size=1000)
    with pytest.raises(EntryTooLarge):
        capped.set("big", b"x" * 700)


def test_serialization_error(make_manager):
    m = make_manager(serialization_format="json")
    with pytest.raises(SerializationError):
        m.set("k", object())
    assert m.get_metrics()["serialization_errors"] == 1 and not m.exists("k")


def test_max_bytes_bounds_the_stored_size(make_manager):
    m = make_manager(max_bytes=10_000, max_entries=None)
    for i in range(100):
        m.set(i, b"x" * 500)
    metrics = m.get_metrics()
    assert metrics["current_size_bytes"] <= 10_000 and metrics["evictions"] > 0
    m.check()


def test_corrupt_entry_is_a_counted_miss_and_is_dropped(make_manager):
    m = make_manager(serialization_format="pickle")
    m.set("good", 1)
    m.backend.set("bad", b"\x05not a frame", None, 12)  # bytes written behind our back
    assert m.get("bad", "dflt") == "dflt"
    assert not m.exists("bad")
    m.backend.set("bad2", b"\x01zz", None, 3)
    assert m.get_many(["good", "bad2"]) == {"good": 1}
    metrics = m.get_metrics()
    assert metrics["corrupt_entries"] == 2 and metrics["misses"] == 2 and metrics["hits"] == 1


def test_lifecycle(make_manager):
    m = make_manager(serialization_format="none")
    assert m.is_running
    m.set("a", 1)
    m.stop()
    assert not m.is_running
    for call in (lambda: m.get("a"), lambda: m.set("a", 2), lambda: m.delete("a"),
                 lambda: m.get_or_set("a", int), lambda: m.keys(), lambda: m.exists("a")):
        with pytest.raises(ManagerNotRunning):
            call()
    with m:
        assert m.get("a") == 1  # data survives stop/start
    assert not m.is_running


def test_keyword_construction_and_config_override(clock):
    m = CacheManager(max_entries=3, timer=clock)
    assert m.config.max_entries == 3
    m2 = CacheManager(CacheManagerConfig(max_entries=3), eviction_policy="fifo")
    assert m2.config.eviction_policy == "fifo" and m2.config.max_entries == 3


def test_metrics_keys_and_rates(cache):
    cache.set("a", "x" * 200)
    cache.get("a")
    cache.get("zz")
    snap = cache.get_metrics()
    required = ["hits", "misses", "sets", "deletes", "evictions", "expirations", "hit_rate",
                "current_entries", "current_size_bytes", "serialization_time_ms",
                "deserialization_time_ms", "compression_time_ms", "decompression_time_ms",
                "compression_ratio", "compression_count", "prefetch_requests", "prefetch_hits",
                "prefetch_hit_rate", "cache_operations", "serialization_errors",
                "compression_errors", "prefetch_queue_size"]
    assert not [k for k in required if k not in snap]
    assert (snap["hits"], snap["misses"], snap["hit_rate"]) == (1, 1, 0.5)
    assert snap["cache_operations"] == 3 and snap["current_entries"] == 1
    assert snap["current_size_bytes"] > 0


@pytest.mark.parametrize("policy", ["lru", "lfu", "fifo", "random", "probability"])
def test_capacity_is_respected_for_every_policy(make_manager, policy):
    m = make_manager(eviction_policy=policy, max_entries=50, seed=3)
    for i in range(500):
        m.set(i, i)
        m.get(i // 2)
    assert len(m) == 50 and m.get_metrics()["evictions"] == 450
    m.check()


def test_evict_lru(make_manager):
    m = make_manager(eviction_policy="lru")
    for k in "abcd":
        m.set(k, k)
    m.get("a")
    assert m.evict_lru(2) == 2
    assert sorted(m.keys()) == ["a", "d"]
    assert m.get_metrics()["evictions"] == 2


def test_evict_low_probability_and_probability_policy(make_manager):
    m = make_manager(eviction_policy="probability", max_entries=3)
    for k in "abc":
        m.set(k, k)
    assert m.set_probabilities({"a": 0.9, "b": 0.1, "c": 0.5, "zz": 1.0}) == 3
    m.set("d", "d")  # the full cache drops the least likely key
    assert sorted(m.keys()) == ["a", "c", "d"]
    assert m.evict_low_probability({"a": 0.9, "c": 0.2, "d": 0.3, "nope": 0.0}, 2) == 2
    assert m.keys() == ["a"]


def test_generate_cache_key_is_exported_and_deterministic():
    k = fbacache.generate_cache_key("/items", {"b": 2, "a": "x&y=z"})
    assert k == "/items|a=x%26y%3Dz&b=2"
    assert fbacache.generate_cache_key("/items", {"a": "x", "y=z&b": 2}) != k
    assert fbacache.generate_cache_key("/e", None) == "/e|"
