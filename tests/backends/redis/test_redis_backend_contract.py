"""The generic backend behaviour of the redis and tiered backends, through CacheManager."""
from __future__ import annotations

import math
import time

import pytest
import redis

from fbacache import CacheManager, ConfigError, UnsafeConfiguration

BACKENDS = ["redis", "tiered"]


@pytest.fixture(params=BACKENDS)
def cache(request, redis_url, make_manager) -> CacheManager:
    m = make_manager(request.param, redis_url)
    if request.param == "tiered":
        assert m.backend.bus.wait_up(5)
    return m


def raw(url: str) -> redis.Redis:
    return redis.Redis.from_url(url)


def test_get_set_ttl_delete(cache, redis_url):
    assert cache.get("missing", "dflt") == "dflt"
    cache.set("a", {"x": [1, 2]}, ttl=30)
    cache.set("forever", "v", ttl=math.inf)
    assert cache.get("a") == {"x": [1, 2]}
    assert 29 < cache.ttl("a") <= 30
    assert cache.ttl("forever") == math.inf and cache.ttl("missing") is None
    assert cache.exists("a") and "a" in cache and not cache.exists("missing")
    # Redis holds it under the versioned prefix, with a PX expiry
    rkey = b"fbacache:v2:test:s:a"
    assert raw(redis_url).exists(rkey) and 29_000 < raw(redis_url).pttl(rkey) <= 30_000
    assert cache.delete("a") is True and cache.delete("a") is False
    assert cache.get("a") is None
    m = cache.get_metrics()
    assert m["hits"] >= 1 and m["misses"] >= 2 and m["backend_state"] == "redis"


def test_expiry_is_redis_px(cache):
    cache.set("short", 1, ttl=0.15)
    assert cache.get("short") == 1
    time.sleep(0.25)
    assert cache.get("short") is None and not cache.exists("short")


def test_touch_and_metadata(cache):
    cache.set("m", "v", ttl=5, metadata={"source": "db", "n": 3})
    assert cache.get_metadata("m") == {"source": "db", "n": 3}
    assert cache.touch("m", ttl=100) and cache.ttl("m") > 99
    assert cache.touch("m", ttl=math.inf) and cache.ttl("m") == math.inf
    assert cache.touch("nope", 10) is False and cache.get_metadata("nope") is None
    cache.set("plain", 1)
    assert cache.get_metadata("plain") == {}


def test_many_operations_and_key_types(cache):
    data = {f"k{i}": i for i in range(50)}
    cache.set_many(data, ttl=60)
    cache.set(b"\x00bin", "bytes key")
    cache.set(42, "int key")
    got = cache.get_many(list(data) + ["absent", b"\x00bin", 42])
    assert got == {**data, b"\x00bin": "bytes key", 42: "int key"}
    assert sorted(cache.keys("k1*")) == ["k1"] + [f"k1{i}" for i in range(10)]
    assert set(cache.keys()) == set(data) | {b"\x00bin", 42}
    assert len(cache) == 52
    assert cache.delete_many(["k0", "k1", "absent"]) == 2
    assert cache.invalidate("k2?") == 10
    assert len(cache) == 40
    with pytest.raises(TypeError):
        cache.set(("tuple", "key"), 1)


def test_clear_and_invalidate_stay_within_the_prefix(cache, redis_url, make_manager):
    r = raw(redis_url)
    r.set("outside", "x")
    r.set("fbacache:v2:testX:s:k", "other namespace with a common head")
    other = make_manager("redis", redis_url, manager={"key_prefix": "other"})
    other.set("k1", "theirs")
    cache.set_many({f"k{i}": i for i in range(2500)})  # more than one SCAN/UNLINK batch
    assert cache.invalidate("k*") == 2500
    cache.set_many({f"k{i}": i for i in range(30)})
    cache.clear()
    assert cache.keys() == [] and len(cache) == 0
    assert r.get("outside") == b"x" and r.exists("fbacache:v2:testX:s:k")
    assert other.get("k1") == "theirs"


def test_patterns_match_literally_and_by_glob(cache):
    for k in ["a*b", "a?b", "a[b", "axb", "user:1:profile", "user:2"]:
        cache.set(k, k)
    assert sorted(cache.keys("a[*]b")) == ["a*b"]
    assert sorted(cache.keys("a?b")) == ["a*b", "a?b", "a[b", "axb"]
    assert cache.keys("user:*:profile") == ["user:1:profile"]


def test_get_or_set_single_flight(cache):
    calls = []
    assert cache.get_or_set("g", lambda: calls.append(1) or "made", ttl=10) == "made"
    assert cache.get_or_set("g", lambda: calls.append(1) or "again") == "made"
    assert calls == [1]


def test_pool_size_and_options_are_validated(redis_url, make_manager):
    m = make_manager("redis", redis_url, pool_size=3)
    assert m.backend.client.connection_pool.max_connections == 3
    with pytest.raises(ConfigError) as info:
        make_manager("redis", redis_url, pool_size=0)
    assert info.value.field == "backend_config.pool_size"
    with pytest.raises(ConfigError):
        make_manager("redis", redis_url, no_such_option=1)
    with pytest.raises(ConfigError):
        make_manager("redis", "http://nope")


def test_pickle_on_redis_needs_a_signing_key(redis_url):
    with pytest.raises(UnsafeConfiguration):
        CacheManager(backend_type="redis", backend_config={"url": redis_url},
                     serialization_format="pickle")


def test_redis_py_retries_are_off_and_timeouts_short(redis_url, make_manager):
    client = make_manager("redis", redis_url, socket_timeout=0.3).backend.client
    kwargs = client.connection_pool.connection_kwargs
    assert kwargs["socket_timeout"] == 0.3
    assert kwargs["retry"].get_retries() == 0
