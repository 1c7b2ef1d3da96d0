"""CacheManager.from_url against real servers: memory://, redis://, unix://, redis+cluster://."""
from __future__ import annotations

import os

import pytest
import redis

from fbacache import CacheManager
from fbacache.errors import ConfigError, UnsafeConfiguration


def test_memory_url_is_the_default_backend():
    with CacheManager.from_url("memory://", default_ttl=60, max_entries=5) as cache:
        assert cache.backend.name == "memory" and cache.config.max_entries == 5
        assert cache.set("k", {"v": 1}) and cache.get("k") == {"v": 1}


def test_redis_url_stores_in_redis_with_a_safe_codec(redis_url):
    with CacheManager.from_url(redis_url, key_prefix="fromurl", default_ttl=60) as cache:
        assert cache.backend.name == "redis"
        assert cache.config.serialization_format == "msgpack"  # not pickle on a shared store
        cache.set("k", [1, 2])
        assert cache.get("k") == [1, 2]
    raw = redis.Redis.from_url(redis_url)
    assert any(b"fromurl" in k for k in raw.scan_iter(count=1000))


def test_tiered_url(redis_url):
    with CacheManager.from_url(redis_url, tiered=True, key_prefix="tiered-url") as cache:
        assert cache.backend.name == "tiered"
        cache.set("k", "v")
        assert cache.get("k") == "v"


def test_unix_socket_url(redis_server_factory, tmp_path):
    sock = str(tmp_path / "redis.sock")
    redis_server_factory(extra_args=["--unixsocket", sock, "--unixsocketperm", "700"])
    assert os.path.exists(sock)  # the factory returns a started server
    with CacheManager.from_url(f"unix://{sock}?db=0", key_prefix="sock") as cache:
        cache.set("k", 1)
        assert cache.get("k") == 1
    assert redis.Redis(unix_socket_path=sock).dbsize() >= 1


def test_cluster_url(redis_cluster_url):
    url = "redis+cluster://" + redis_cluster_url.split("://", 1)[1]
    with CacheManager.from_url(url, key_prefix="clu") as cache:
        cache.set_many({f"k{i}": i for i in range(20)})
        assert cache.get_many([f"k{i}" for i in range(20)]) == {f"k{i}": i for i in range(20)}


@pytest.mark.parametrize("url, field", [
    ("mongodb://x", "url"), ("memory://somewhere", "url"), ("no-scheme", "url"), (None, "url"),
])
def test_bad_urls_are_config_errors(url, field):
    with pytest.raises(ConfigError) as err:
        CacheManager.from_url(url)
    assert err.value.field == field


def test_refusals():
    with pytest.raises(ConfigError, match="second tier"):
        CacheManager.from_url("memory://", tiered=True)
    with pytest.raises(ConfigError, match="scheme chooses"):
        CacheManager.from_url("memory://", backend_type="redis")
    with pytest.raises(ConfigError, match="given twice"):
        CacheManager.from_url("redis://127.0.0.1:1/0", backend_config={"url": "redis://x"})
    with pytest.raises(TypeError):
        CacheManager.from_url("memory://", max_entires=10)
    with pytest.raises(UnsafeConfiguration):  # pickle asked for explicitly, unsigned: refused
        CacheManager.from_url("redis://127.0.0.1:1/0", serialization_format="pickle")
