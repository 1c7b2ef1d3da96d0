"""CacheManagerConfig validation and from_env."""
from __future__ import annotations

import pytest

from fbacache import CacheManager, CacheManagerConfig, ConfigError
from fbacache.config import parse_size


@pytest.mark.parametrize("field, value", [
    ("default_ttl", 0), ("default_ttl", -1), ("default_ttl", "10"), ("max_entries", 0),
    ("max_entries", 1.5), ("max_bytes", -5), ("eviction_policy", "mru"),
    ("max_entry_size", 0), ("serialization_format", "yaml"), ("compression", "lz4"),
    ("compression_threshold", -1), ("compression_level", 99), ("key_prefix", 5),
    ("signing_key", b"short"), ("lock_timeout", 0), ("prefetch_queue_size", 0),
    ("timer", 5), ("backend_config", "url"), ("max_decompressed_size", 10),
])
def test_invalid_value_names_the_field(field, value):
    with pytest.raises(ConfigError) as info:
        CacheManagerConfig(**{field: value})
    assert info.value.field == field
    assert isinstance(info.value, ValueError)


def test_compression_needs_a_serializer():
    with pytest.raises(ConfigError) as info:
        CacheManagerConfig(serialization_format="none", compression="zlib")
    assert info.value.field == "compression"


def test_old_signing_keys_need_a_current_key():
    with pytest.raises(ConfigError) as info:
        CacheManagerConfig(signing_keys=[b"k" * 32])
    assert info.value.field == "signing_keys"


def test_unknown_backend_is_a_config_error():
    with pytest.raises(ConfigError) as info:
        CacheManager(backend_type="nosuch")
    assert info.value.field == "backend_type"


def test_adaptive_without_core_support_is_a_config_error_or_works():
    try:
        m = CacheManager(eviction_policy="adaptive")
    except ConfigError as exc:
        assert exc.field == "eviction_policy"
    else:
        m.set("a", 1)
        assert m.get("a") == 1


def test_from_env_reads_legacy_and_prefixed_variables():
    env = {
        "CACHE_TTL": "60", "MAX_MEMORY_SIZE": "64MB", "COMPRESSION_THRESHOLD": "2048",
        "REDIS_URL": "redis://127.0.0.1:6379/0", "FBACACHE_MAX_ENTRIES": "500",
        "FBACACHE_COMPRESSION": "zstd", "FBACACHE_SERIALIZATION_FORMAT": "MsgPack",
        "FBACACHE_EVICTION_POLICY": "lfu", "FBACACHE_KEY_PREFIX": "app:",
        "FBACACHE_SIGNING_KEY": "s" * 32, "FBACACHE_SIGNING_KEYS": "o" * 32 + ", " + "p" * 32,
    }
    cfg = CacheManagerConfig.from_env(env)
    assert cfg.default_ttl == 60.0
    assert cfg.max_bytes == 64 * 1024 * 1024
    assert cfg.compression_threshold == 2048
    # REDIS_URL alone does not switch backends, and the memory backend takes no url
    assert cfg.backend_type == "memory" and cfg.backend_config == {}
    redis_cfg = CacheManagerConfig.from_env(env, backend_type="redis")
    assert redis_cfg.backend_config == {"url": "redis://127.0.0.1:6379/0"}
    assert (cfg.max_entries, cfg.compression, cfg.serialization_format) == (500, "zstd", "msgpack")
    assert (cfg.eviction_policy, cfg.key_prefix) == ("lfu", "app:")
    assert cfg.signing_key_bytes() == (b"s" * 32, (b"o" * 32, b"p" * 32))


def test_from_env_prefixed_wins_and_overrides_win_over_env():
    env = {"CACHE_TTL": "60", "FBACACHE_DEFAULT_TTL": "5", "FBACACHE_MAX_ENTRIES": "none"}
    cfg = CacheManagerConfig.from_env(env, max_entry_size=2048)
    assert cfg.default_ttl == 5.0 and cfg.max_entries is None and cfg.max_entry_size == 2048


def test_from_env_backend_config_json():
    cfg = CacheManagerConfig.from_env({"FBACACHE_BACKEND_CONFIG": '{"pool_size": 4}',
                                       "FBACACHE_BACKEND_TYPE": "redis",
                                       "REDIS_URL": "redis://h"})
    assert cfg.backend_config == {"url": "redis://h", "pool_size": 4}


@pytest.mark.parametrize("env, field", [
    ({"CACHE_TTL": "soon"}, "CACHE_TTL"),
    ({"FBACACHE_MAX_ENTRIES": "lots"}, "FBACACHE_MAX_ENTRIES"),
    ({"FBACACHE_BACKEND_CONFIG": "[1]"}, "FBACACHE_BACKEND_CONFIG"),
    ({"FBACACHE_EVICTION_POLICY": "mru"}, "eviction_policy"),
])
def test_from_env_errors_name_the_variable_or_field(env, field):
    with pytest.raises(ConfigError) as info:
        CacheManagerConfig.from_env(env)
    assert info.value.field == field


def test_from_env_defaults_from_real_environment(monkeypatch):
    monkeypatch.setenv("FBACACHE_DEFAULT_TTL", "7")
    assert CacheManagerConfig.from_env().default_ttl == 7.0


def test_parse_size():
    assert parse_size("1KiB") == 1024 and parse_size("2g") == 2 << 30 and parse_size("17") == 17
    with pytest.raises(ValueError):
        parse_size("ten")
