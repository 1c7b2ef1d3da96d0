"""Hostile numbers, keys, bytes and environments through the public CacheManager API (#12).

Each test names the #12 item it pins. Threads are real and every wait has a
timeout guard, so a regression shows up as a failure, never as a hung suite.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap
import threading
import time
import zlib

import pytest
import zstandard

from fbacache import CacheManager, CacheManagerConfig, ConfigError, EntryTooLarge
from fbacache import errors
from fbacache.codecs import MARKER_ZLIB, MARKER_ZSTD

from manager_support import FakeClock

GUARD = 10.0  # seconds a thread may take before the test declares a hang


def short(value):
    """Test id of a hostile value (10**400 would make a 400-character id)."""
    text = repr(value)
    return text if len(text) <= 24 else f"int_of_{len(text)}_digits"


def run_guarded(fn):
    """Run ``fn`` in a real thread; its result, or the exception it raised; fail on a hang."""
    box = {}

    def target():
        try:
            box["value"] = fn()
        except BaseException as exc:  # handed to the test thread
            box["error"] = exc

    t = threading.Thread(target=target, daemon=True)
    t.start()
    t.join(GUARD)
    assert not t.is_alive(), "the call hung (deadlock)"
    if "error" in box:
        raise box["error"]
    return box["value"]


def contended_get_or_set(cache, **kwargs):
    """A leader whose factory blocks, a waiter that must wait for it: the waiter's outcome."""
    started, release = threading.Event(), threading.Event()

    def slow():
        started.set()
        assert release.wait(GUARD)
        return "fresh"

    leader = threading.Thread(target=lambda: cache.get_or_set("k", slow), daemon=True)
    leader.start()
    assert started.wait(GUARD)
    box = {}

    def wait():
        try:
            box["value"] = cache.get_or_set("k", lambda: "not me", **kwargs)
        except BaseException as exc:
            box["error"] = exc

    waiter = threading.Thread(target=wait, daemon=True)
    waiter.start()
    deadline = time.monotonic() + GUARD  # until the waiter is really waiting
    while cache.get_metrics()["single_flight_waits"] < 1 and "error" not in box:
        assert time.monotonic() < deadline
        time.sleep(0.001)
    release.set()
    leader.join(GUARD)
    waiter.join(GUARD)
    assert not waiter.is_alive() and not leader.is_alive()
    if "error" in box:
        raise box["error"]
    return box["value"]


# --------------------------------------------------------------------------- item 9: numbers
def test_infinite_lock_timeout_means_wait_as_long_as_the_factory_runs():
    with CacheManager(lock_timeout=math.inf) as cache:
        assert contended_get_or_set(cache) == "fresh"


def test_infinite_lock_timeout_from_the_environment():
    cfg = CacheManagerConfig.from_env({"FBACACHE_LOCK_TIMEOUT": "inf"})
    with CacheManager(cfg) as cache:
        assert contended_get_or_set(cache) == "fresh"


def test_infinite_call_timeout_waits_too():
    with CacheManager() as cache:
        assert contended_get_or_set(cache, timeout=math.inf) == "fresh"


@pytest.mark.parametrize("timeout", [1e300, 10**400, float("nan"), 0, -1, True, "5"], ids=short)
def test_unusable_call_timeout_is_refused_before_anything_runs(timeout):
    calls = []
    with CacheManager() as cache:
        with pytest.raises(ConfigError) as err:
            cache.get_or_set("k", lambda: calls.append(1), timeout=timeout)
        assert err.value.field == "timeout"
        assert calls == [] and "k" not in cache
    if isinstance(timeout, float) and math.isnan(timeout):  # item 25: not "gave up after nans"
        assert "nan" in str(err.value) and "gave up" not in str(err.value)


@pytest.mark.parametrize("field, value", [
    ("lock_timeout", 1e300), ("lock_timeout", 10**400), ("lock_timeout", float("nan")),
    ("lock_timeout", 0), ("lock_timeout", True),
    ("default_ttl", 10**400), ("default_ttl", 1e300), ("default_ttl", float("nan")),
    ("default_ttl", -math.inf), ("default_ttl", True), ("default_ttl", 0),
    ("max_entries", 10**400), ("max_entries", 2.0), ("max_entries", True),
    ("max_bytes", 10**400), ("max_bytes", math.inf),
    ("max_entry_size", 10**400), ("max_entry_size", float("nan")),
    ("compression_threshold", 1e400), ("compression_threshold", -1),
    ("prefetch_queue_size", 10**400), ("seed", 1.5), ("seed", True),
], ids=short)
def test_hostile_numbers_are_a_config_error_at_construction(field, value):
    with pytest.raises(ConfigError) as err:
        CacheManager(**{field: value})
    assert err.value.field == field


@pytest.mark.parametrize("env", [
    {"CACHE_TTL": "1e400"}, {"FBACACHE_DEFAULT_TTL": "nan"}, {"FBACACHE_LOCK_TIMEOUT": "1e400"},
    {"FBACACHE_LOCK_TIMEOUT": "1e300"}, {"FBACACHE_MAX_BYTES": "9" * 400},
    {"FBACACHE_MAX_BYTES": "9" * 400 + ".5MB"}, {"FBACACHE_MAX_ENTRIES": "9" * 400},
    {"FBACACHE_MAX_DECOMPRESSED_SIZE": "9000000TB"}, {"FBACACHE_MAX_DECOMPRESSED_SIZE": str(2**63)},
], ids=lambda env: "-".join(f"{k}={short(v)}" for k, v in env.items()))
def test_hostile_numbers_from_the_environment_are_a_config_error(env):
    # A literal that overflows to inf ("1e400") is out of range, not a spelling of "never".
    with pytest.raises(ConfigError):
        CacheManagerConfig.from_env(env)


def test_infinite_default_ttl_means_never():
    clock = FakeClock()
    with CacheManager(default_ttl=math.inf, timer=clock) as cache:
        assert cache.config.default_ttl is None  # stored as the other spelling of "never"
        cache.set("k", 1)
        clock.advance(1e12)
        assert cache.get("k") == 1 and cache.ttl("k") == math.inf


@pytest.mark.parametrize("ttl", [1e300, 10**400, float("nan"), 0, True], ids=short)
def test_unusable_call_ttl_is_refused(ttl):
    with CacheManager() as cache:
        with pytest.raises(ConfigError):
            cache.set("k", 1, ttl=ttl)
        with pytest.raises(ConfigError):
            cache.set_many({"a": 1}, ttl=ttl)
        assert len(cache) == 0
        cache.set("t", 1, ttl=5)
        with pytest.raises(ConfigError):
            cache.touch("t", ttl=ttl)
        assert 0 < cache.ttl("t") <= 5


def test_largest_finite_ttl_is_honoured():
    from fbacache._validate import MAX_SECONDS
    clock = FakeClock()
    with CacheManager(timer=clock, default_ttl=MAX_SECONDS) as cache:
        cache.set("k", 1)
        cache.set("j", 2, ttl=MAX_SECONDS)
        clock.advance(MAX_SECONDS - 1)
        assert cache.get_many(["k", "j"]) == {"k": 1, "j": 2}
        clock.advance(2)
        assert cache.get_many(["k", "j"]) == {}


class Wall:
    def __init__(self) -> None:
        self.now = 1_700_000_000.0

    def __call__(self) -> float:
        return self.now


def test_filesystem_infinite_ttl_seconds_never_expires(tmp_path):
    wall = Wall()
    with CacheManager(backend_type="filesystem", serialization_format="json",
                      backend_config={"directory": str(tmp_path), "ttl_seconds": math.inf,
                                      "clock": wall}) as cache:
        assert cache.set("a", {"x": 1}) and cache.set("b", {"x": 2}, ttl=60)
        wall.now += 10 * 365 * 86400.0
        assert cache.get("a") == {"x": 1} and cache.ttl("a") == math.inf
        assert cache.get("b") == {"x": 2}  # the directory never expires: per-entry TTLs do not apply


@pytest.mark.parametrize("ttl", [1e300, 10**400, float("nan"), True, 0], ids=short)
def test_filesystem_unusable_ttl_seconds_is_refused(tmp_path, ttl):
    with pytest.raises(ConfigError) as err:
        CacheManager(backend_type="filesystem", serialization_format="json",
                     backend_config={"directory": str(tmp_path), "ttl_seconds": ttl})
    assert err.value.field == "backend_config.ttl_seconds"


# --------------------------------------------------------------------------- item 10: re-entrant keys
class SelfUsingKey:
    """A key whose __hash__ writes to the manager holding it (as a logging/metrics hook might)."""

    def __init__(self, cache, name):
        self.cache, self.name = cache, name

    def __hash__(self):
        self.cache.set(f"side:{self.name}", "written from __hash__")
        return hash(self.name)

    def __eq__(self, other):
        return isinstance(other, SelfUsingKey) and other.name == self.name


@pytest.mark.parametrize("kwargs", [{}, {"serialization_format": "none"},
                                    {"serialization_format": "msgpack", "compression": "zlib"},
                                    {"max_entries": 2}],
                         ids=["pickle", "objects", "msgpack-zlib", "evicting"])
def test_key_whose_hash_uses_the_same_manager_does_not_deadlock(kwargs):
    with CacheManager(**kwargs) as cache:
        key = SelfUsingKey(cache, "a")

        def scenario():
            cache.set(key, "v")
            got = cache.get(key)
            assert cache.exists(key)
            cache.set(key, "w", metadata={"m": 1}, tags=["t"])
            assert cache.get_metadata(key) == {"m": 1}
            loaded = cache.get_or_set(SelfUsingKey(cache, "b"), lambda: "loaded")
            many = cache.get_many([key])
            removed = cache.invalidate_tags("t")
            cache.set_many({key: "x"})
            cache.set(key, "y", tags=["t"])
            deleted = cache.delete(key)
            cache.check()
            return got, loaded, many, removed, deleted

        got, loaded, many, removed, deleted = run_guarded(scenario)
        assert (got, loaded) == ("v", "loaded")
        if "max_entries" not in kwargs:  # else the side writes may evict the key: legitimate
            assert (many, removed, deleted) == ({key: "w"}, 1, True)
            assert cache.get("side:a") == "written from __hash__"
        cache.check()


# --------------------------------------------------------------------------- item 11: decompression cap
@pytest.mark.parametrize("cap", [2**63, 2**64, 10**400, sys.maxsize], ids=short)
def test_decompression_cap_beyond_the_platform_is_refused(cap):
    with pytest.raises(ConfigError) as err:
        CacheManager(compression="zlib", max_decompressed_size=cap)
    assert err.value.field == "max_decompressed_size"


@pytest.mark.parametrize("comp", ["zlib", "zstd"])
def test_largest_decompression_cap_still_reads_compressed_entries(comp):
    with CacheManager(compression=comp, compression_threshold=16,
                      max_decompressed_size=sys.maxsize - 1) as cache:
        value = {"text": "compressible " * 500}
        cache.set("k", value)
        assert cache.get("k") == value
        m = cache.get_metrics()
        assert m["compression_count"] == 1 and m["corrupt_entries"] == 0 and m["hits"] == 1


# --------------------------------------------------------------------------- item 13: one frame only
def _plant(cache, key, blob):
    # The bytes another writer could leave in the store (the backend is the public seam).
    cache.backend.set(key, blob, None, len(blob))


@pytest.mark.parametrize("comp, marker", [("zlib", MARKER_ZLIB), ("zstd", MARKER_ZSTD)])
def test_trailing_bytes_or_a_second_frame_are_a_counted_miss(comp, marker):
    with CacheManager(compression=comp, compression_threshold=16,
                      serialization_format="json") as cache:
        value = ["payload"] * 200
        cache.set("good", value)
        blob = cache.backend.peek("good")
        assert blob[0] == marker and cache.get("good") == value
        payload = json.dumps(value, separators=(",", ":")).encode()
        second = (zlib.compress(payload) if comp == "zlib"
                  else zstandard.ZstdCompressor(write_content_size=True).compress(payload))
        planted = {"garbage": blob + b"\x00trailing garbage", "two_frames": blob + second,
                   "one_byte": blob + b"\x01"}
        for key, bad in planted.items():
            _plant(cache, key, bad)
            assert cache.get(key, "miss") == "miss", key
        m = cache.get_metrics()
        assert m["corrupt_entries"] == len(planted)
        assert m["misses"] == len(planted)


# --------------------------------------------------------------------------- item 17: set_many
def test_set_many_is_all_or_nothing_when_one_item_is_too_large():
    with CacheManager(max_bytes=1000, serialization_format="msgpack") as cache:
        cache.set("keep", "old")
        batch = {"a": "small", "keep": "new", "big": "x" * 5000, "z": "small too"}
        with pytest.raises(EntryTooLarge):
            cache.set_many(batch)
        assert sorted(cache.keys()) == ["keep"] and cache.get("keep") == "old"
        assert cache.get_metrics()["sets"] == 1
        cache.set_many({"a": 1, "b": 2})
        assert cache.get_metrics()["sets"] == 3
        cache.check()


# --------------------------------------------------------------------------- item 18: MAX_MEMORY_SIZE
def test_bare_max_memory_size_is_a_number_of_entries():
    cfg = CacheManagerConfig.from_env({"MAX_MEMORY_SIZE": "10000"})
    assert (cfg.max_entries, cfg.max_bytes) == (10000, None)
    with CacheManager(cfg) as cache:
        for i in range(2000):
            cache.set(f"item:{i}", {"i": i, "pad": "p" * 100})
        assert len(cache) == 2000 and cache.get_metrics()["evictions"] == 0


@pytest.mark.parametrize("raw, expected", [("64MB", 64 << 20), ("512k", 512 << 10),
                                           (" 2 GiB ", 2 << 30)])
def test_max_memory_size_with_a_unit_is_bytes(raw, expected):
    cfg = CacheManagerConfig.from_env({"MAX_MEMORY_SIZE": raw})
    assert cfg.max_bytes == expected and cfg.max_entries == CacheManagerConfig().max_entries


def test_prefixed_variables_win_over_max_memory_size():
    cfg = CacheManagerConfig.from_env({"MAX_MEMORY_SIZE": "10000", "FBACACHE_MAX_ENTRIES": "7"})
    assert (cfg.max_entries, cfg.max_bytes) == (7, None)
    cfg = CacheManagerConfig.from_env({"MAX_MEMORY_SIZE": "1MB", "FBACACHE_MAX_BYTES": "2MB"})
    assert cfg.max_bytes == 2 << 20


@pytest.mark.parametrize("raw", ["lots", "-5", "1e400", "0", "10000.0", "9" * 400],
                         ids=short)
def test_bad_max_memory_size_names_the_variable(raw):
    with pytest.raises(ConfigError) as err:
        CacheManagerConfig.from_env({"MAX_MEMORY_SIZE": raw})
    assert err.value.field in ("MAX_MEMORY_SIZE", "max_entries", "max_bytes")


# --------------------------------------------------------------------------- item 19: ratio
def test_compression_ratio_is_compressed_over_original():
    with CacheManager(compression="zlib", compression_threshold=16,
                      serialization_format="json") as cache:
        assert cache.get_metrics()["compression_ratio"] == 1.0  # nothing compressed yet
        value = "abc" * 20_000
        cache.set("k", value)
        m = cache.get_metrics()
        original = len(json.dumps(value).encode())
        compressed = m["current_size_bytes"] - 1  # the stored blob minus its marker byte
        assert m["compression_ratio"] == pytest.approx(compressed / original)
        assert 0 < m["compression_ratio"] < 0.05


# --------------------------------------------------------------------------- item 21: start()
def test_start_is_truthy_on_an_empty_cache():
    cache = CacheManager()
    assert len(cache) == 0
    assert cache.start() is True
    cache.stop()
    assert cache.start() is True and cache.is_running
    cache.close()


# --------------------------------------------------------------------------- item 22: check()
CHECK_SCRIPT = textwrap.dedent("""
    import sys
    from fbacache import CacheManager
    from fbacache.errors import InvariantViolation
    assert_runs = True
    try:
        assert False
    except AssertionError:
        pass
    else:
        assert_runs = False
    results = [("optimized", not assert_runs)]
    m = CacheManager()
    m.set("k", 1, tags=["t"])
    m.check()
    m._tags._by_tag["t"].discard("k")  # a broken back link, as a bug would leave it
    try:
        m.check()
        results.append(("tags", "nothing raised"))
    except InvariantViolation as exc:
        results.append(("tags", "InvariantViolation"))
    m = CacheManager()
    m.set("k", 1)
    m.backend.store.meta.update({("ghost", i): {} for i in range(200)})  # metadata never pruned
    try:
        m.check()
        results.append(("meta", "nothing raised"))
    except InvariantViolation:
        results.append(("meta", "InvariantViolation"))
    print(results)
""")


@pytest.mark.parametrize("flags", [[], ["-O"]])
def test_check_raises_a_typed_error_even_under_python_O(flags):
    out = subprocess.run([sys.executable, *flags, "-c", CHECK_SCRIPT], capture_output=True,
                         text=True, timeout=60, env={**os.environ, "PYTHONOPTIMIZE": ""})
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == str([("optimized", bool(flags)), ("tags", "InvariantViolation"),
                                      ("meta", "InvariantViolation")])


def test_invariant_violation_is_an_assertion_error_for_old_callers():
    assert issubclass(errors.InvariantViolation, errors.FbaCacheError)
    assert issubclass(errors.InvariantViolation, AssertionError)


# --------------------------------------------------------------------------- item 24: from_env
@pytest.mark.parametrize("depth", [100_000, 40])
def test_deeply_nested_backend_config_is_a_config_error(depth):
    raw = '{"a":' * depth + "1" + "}" * depth
    with pytest.raises(ConfigError) as err:
        CacheManagerConfig.from_env({"FBACACHE_BACKEND_CONFIG": raw})
    assert err.value.field == "FBACACHE_BACKEND_CONFIG"


def test_moderately_nested_backend_config_is_kept():
    raw = '{"a":' * 5 + "1" + "}" * 5
    cfg = CacheManagerConfig.from_env({"FBACACHE_BACKEND_CONFIG": raw,
                                       "FBACACHE_BACKEND_TYPE": "redis"})
    assert cfg.backend_config == json.loads(raw)


@pytest.mark.parametrize("blank", ["   ", "", "\t\n"])
def test_blank_signing_key_in_the_environment_is_refused(blank):
    with pytest.raises(ConfigError) as err:
        CacheManagerConfig.from_env({"FBACACHE_SIGNING_KEY": blank})
    assert err.value.field == "FBACACHE_SIGNING_KEY"


def test_blank_signing_key_in_code_is_refused():
    with pytest.raises(ConfigError) as err:
        CacheManager(signing_key=" " * 32)
    assert err.value.field == "signing_key"
    with pytest.raises(ConfigError):
        CacheManager(signing_key="k" * 32, signing_keys=[b" " * 20])
    with CacheManager(signing_key=" padded but real key ") as cache:  # spaces inside are fine
        cache.set("k", 1)
        assert cache.get("k") == 1


# --------------------------------------------------------------------------- item 25: small ones
def test_too_large_error_names_max_decompressed_size():
    with CacheManager(compression="zlib", max_entry_size=1000,
                      max_decompressed_size=1000) as cache:
        with pytest.raises(EntryTooLarge) as err:
            cache.set("k", "x" * 5000)
    assert "max_decompressed_size" in str(err.value) and "max_decoded_size" not in str(err.value)


def test_memory_backend_refuses_unknown_options():
    with pytest.raises(ConfigError) as err:
        CacheManager(backend_config={"max_entires": 5})
    assert err.value.field == "backend_config" and "max_entires" in str(err.value)


def test_redis_url_does_not_break_a_memory_manager():
    cfg = CacheManagerConfig.from_env({"REDIS_URL": "redis://127.0.0.1:6379/0"})
    with CacheManager(cfg) as cache:
        assert cache.backend.name == "memory" and cache.set("k", 1)


def _fba_config(tmp_path, **clearing):
    config = {"cache": {
        "directories": {"amazon_cache": "amazon_cache"},
        "cache_types": {"amazon_cache": {"ttl_hours": 336}},
        "strategies": {"clearing": clearing}}}
    path = tmp_path / "system_config.json"
    path.write_text(json.dumps(config))
    return path


def test_available_strategies_as_a_string_is_refused_as_a_whole(tmp_path):
    path = _fba_config(tmp_path, available="full")
    with pytest.raises(ConfigError) as err:
        CacheManager(backend_type="filesystem", serialization_format="json",
                     backend_config={"config": str(path), "cache_type": "amazon_cache"})
    assert err.value.field == "cache.strategies.clearing.available"
    assert "list" in str(err.value) and "'f'" not in str(err.value)
    good = _fba_config(tmp_path, available=["smart_selective"])
    with CacheManager(backend_type="filesystem", serialization_format="json",
                      backend_config={"config": str(good), "cache_type": "amazon_cache"}) as c:
        assert c.set("amazon_B1", {"asin": "B1"})


def test_filesystem_config_naming_a_directory_is_a_config_error(tmp_path):
    with pytest.raises(ConfigError) as err:
        CacheManager(backend_type="filesystem", serialization_format="json",
                     backend_config={"config": str(tmp_path), "cache_type": "amazon_cache"})
    # the config loader may name it first ("config"); either way a ConfigError, not OSError
    assert err.value.field in ("config", "backend_config.config")
    assert str(tmp_path) in str(err.value)


def test_single_flight_component_takes_inf_and_refuses_overflowing_waits():
    from fbacache.locks import SingleFlight
    flight = SingleFlight()
    started, release = threading.Event(), threading.Event()

    def leader():
        started.set()
        assert release.wait(GUARD)
        return "led"

    t = threading.Thread(target=lambda: flight.do("k", leader, None), daemon=True)
    t.start()
    assert started.wait(GUARD)
    with pytest.raises(ConfigError):
        flight.do("k", lambda: "no", 1e300)
    box = {}
    waiter = threading.Thread(target=lambda: box.update(v=flight.do("k", lambda: "no", math.inf)),
                              daemon=True)
    waiter.start()
    deadline = time.monotonic() + GUARD
    while flight.waits.value < 1:
        assert time.monotonic() < deadline
        time.sleep(0.001)
    release.set()
    waiter.join(GUARD)
    t.join(GUARD)
    assert box == {"v": "led"}
