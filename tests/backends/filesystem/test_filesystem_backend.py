"""backend_type='filesystem': one FBA cache type's directory through the public CacheManager API.

Real files in tmp dirs; the clock is injected through backend_config so mtime freshness is
exercised without sleeping.
"""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
import textwrap

import pytest

from fbacache import CacheManager, ConfigError, UnsafeConfiguration
from fbacache.backends import available_backends

HOUR = 3600.0


class WallClock:
    """A wall clock the test moves (mtimes are compared with it)."""

    def __init__(self) -> None:
        import time
        self.now = time.time()

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def wall():
    return WallClock()


@pytest.fixture
def make_fs(tmp_path, wall):
    made = []

    def make(directory=None, ttl_seconds=24 * HOUR, **kwargs):
        options = kwargs.pop("backend_config", None)
        if options is None:
            options = {"directory": str(directory or tmp_path / "amazon_cache"), "clock": wall}
            if ttl_seconds is not None:
                options["ttl_seconds"] = ttl_seconds
        kwargs.setdefault("serialization_format", "json")
        m = CacheManager(backend_type="filesystem", backend_config=options, **kwargs)
        made.append(m)
        return m

    yield make
    for m in made:
        m.close()


def write_agent_file(directory, stem, doc, mtime=None):
    """Write a file the way the FBA agent does (json.dump, indent 2)."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, stem + ".json")
    with open(path, "w", encoding="utf-8") as fh:
        json.dump(doc, fh, indent=2)
    if mtime is not None:
        os.utime(path, (mtime, mtime))
    return path


AMAZON = {"asin": "B08B1P9KWC", "title": "Kettle", "keepa": {"product": {"csv": [[1, 2]]}},
          "price": 19.99, "ean": "5053249240312"}


def test_registered():
    assert "filesystem" in available_backends()


def test_round_trip_writes_agent_readable_json(make_fs, tmp_path):
    cache = make_fs()
    assert cache.set("amazon_B08B1P9KWC_5053249240312", AMAZON)
    path = tmp_path / "amazon_cache" / "amazon_B08B1P9KWC_5053249240312.json"
    text = path.read_text(encoding="utf-8")
    assert json.loads(text) == AMAZON  # plain document, no framing
    assert text.startswith('{\n  "asin"')  # 2-space indent like the agent
    assert cache.get("amazon_B08B1P9KWC_5053249240312") == AMAZON
    assert not [n for n in os.listdir(path.parent) if n != path.name]  # no temp left


def test_reads_files_written_by_the_agent(make_fs, tmp_path, wall):
    d = tmp_path / "amazon_cache"
    write_agent_file(d, "amazon_B0000000001", {"asin": "B0000000001"}, mtime=wall.now - 60)
    cache = make_fs()
    assert cache.get("amazon_B0000000001") == {"asin": "B0000000001"}
    assert cache.keys() == ["amazon_B0000000001"]
    assert cache.exists("amazon_B0000000001")
    m = cache.get_metrics()
    assert (m["hits"], m["misses"], m["current_entries"]) == (1, 0, 1)
    assert m["current_size_bytes"] == os.path.getsize(d / "amazon_B0000000001.json")
    assert m["backend"] == "filesystem"


def test_freshness_is_the_file_mtime(make_fs, tmp_path, wall):
    d = tmp_path / "amazon_cache"
    write_agent_file(d, "old", {"a": 1}, mtime=wall.now - 25 * HOUR)
    write_agent_file(d, "new", {"a": 2}, mtime=wall.now - 23 * HOUR)
    cache = make_fs(ttl_seconds=24 * HOUR)
    assert cache.get("old") is None
    assert cache.get("new") == {"a": 2}
    assert sorted(cache.keys()) == ["new"]
    assert cache.ttl("old") is None
    assert cache.ttl("new") == pytest.approx(HOUR, abs=2)
    m = cache.get_metrics()
    assert (m["hits"], m["misses"], m["expirations"]) == (1, 1, 1)
    assert os.path.exists(d / "old.json")  # expiry never deletes the agent's file
    wall.now += 2 * HOUR
    assert cache.get("new") is None


def test_per_entry_ttl_back_dates_the_mtime(make_fs, tmp_path, wall):
    cache = make_fs(ttl_seconds=10 * HOUR)
    cache.set("short", [1], ttl=HOUR)
    cache.set("long", [2], ttl=100 * HOUR)  # capped at the directory's TTL
    cache.set("default", [3])
    mtime = os.path.getmtime(tmp_path / "amazon_cache" / "short.json")
    assert mtime == pytest.approx(wall.now - 9 * HOUR, abs=1)  # the agent's rule agrees
    assert cache.ttl("short") == pytest.approx(HOUR, abs=1)
    assert cache.ttl("long") == pytest.approx(10 * HOUR, abs=1)
    wall.now += 2 * HOUR
    assert cache.get("short") is None and cache.get("long") == [2]
    assert cache.touch("long", ttl=HOUR)
    assert cache.ttl("long") == pytest.approx(HOUR, abs=1)
    assert not cache.touch("short")
    assert cache.ttl("default") == pytest.approx(8 * HOUR, abs=1)


def test_directory_without_ttl_never_expires(make_fs, wall, tmp_path):
    write_agent_file(tmp_path / "amazon_cache", "linking_map", [{"a": 1}],
                     mtime=wall.now - 400 * 24 * HOUR)
    cache = make_fs(ttl_seconds=None, default_ttl=60)
    assert cache.get("linking_map") == [{"a": 1}]
    cache.set("x", 1)
    wall.now += 10 ** 6
    assert cache.get("x") == 1 and cache.ttl("x") == math.inf


def test_corrupt_file_is_a_counted_miss_and_is_kept(make_fs, tmp_path, wall):
    d = tmp_path / "amazon_cache"
    write_agent_file(d, "ok", {"a": 1})
    (d / "broken.json").write_text('{"asin": "B0', encoding="utf-8")
    (d / "empty.json").write_bytes(b"")
    cache = make_fs()
    assert cache.get("broken", "dflt") == "dflt"
    assert cache.get("empty") is None
    assert cache.get("ok") == {"a": 1}
    m = cache.get_metrics()
    assert (m["hits"], m["misses"], m["corrupt_entries"]) == (1, 2, 2)
    assert (d / "broken.json").read_text() == '{"asin": "B0'  # never deleted by a read
    # get_or_set regenerates over a corrupt entry
    assert cache.get_or_set("broken", lambda: {"asin": "B01"}) == {"asin": "B01"}
    assert json.loads((d / "broken.json").read_text()) == {"asin": "B01"}


def test_config_file_and_cache_type(tmp_path, make_fs):
    root = tmp_path / "fba"
    config = {"cache": {
        "directories": {"amazon_cache": "OUTPUTS/FBA_ANALYSIS/amazon_cache",
                        "linking_map": "OUTPUTS/FBA_ANALYSIS/Linking map"},
        "cache_types": {"amazon_cache": {"ttl_hours": 336, "max_size_mb": 2000},
                        "linking_map": {"ttl_hours": -1}}}}
    cfg_dir = tmp_path / "cfg"
    cfg_dir.mkdir()
    cfg_path = cfg_dir / "system_config.json"
    cfg_path.write_text(json.dumps(config))
    cache = make_fs(backend_config={"config": str(cfg_path), "cache_type": "amazon_cache",
                                    "root": str(root)})
    cache.set("amazon_B1", {"asin": "B1"})
    assert (root / "OUTPUTS/FBA_ANALYSIS/amazon_cache/amazon_B1.json").exists()
    assert cache.ttl("amazon_B1") == pytest.approx(336 * HOUR, abs=5)
    lm = make_fs(backend_config={"config": str(cfg_path), "cache_type": "linking_map",
                                 "root": str(root)})
    lm.set("linking_map", [])
    assert lm.ttl("linking_map") == math.inf
    with pytest.raises(ConfigError) as err:
        make_fs(backend_config={"config": str(cfg_path), "cache_type": "nope"})
    assert err.value.field == "backend_config.cache_type"


@pytest.mark.parametrize("kwargs, field", [
    ({"serialization_format": "msgpack"}, "serialization_format"),
    ({"compression": "zlib"}, "compression"),
    ({"signing_key": "k" * 32}, "signing_key"),
    ({"backend_config": {"directory": "x", "bogus": 1}}, "backend_config"),
    ({"backend_config": {"directory": "x", "config": "c", "cache_type": "t"}}, "backend_config"),
    ({"backend_config": {}}, "backend_config"),
    ({"backend_config": {"directory": "x", "ttl_seconds": -1}}, "backend_config.ttl_seconds"),
])
def test_refuses_settings_it_cannot_store(make_fs, kwargs, field):
    with pytest.raises(ConfigError) as err:
        make_fs(**kwargs)
    assert err.value.field == field


def test_shared_backend_refuses_pickle(make_fs):
    with pytest.raises((ConfigError, UnsafeConfiguration)):
        make_fs(serialization_format="pickle")


def test_keys_invalidate_delete_and_prefix(make_fs, tmp_path):
    d = tmp_path / "amazon_cache"
    write_agent_file(d, "amazon_foreign", {"keep": True})
    cache = make_fs(key_prefix="svc_")
    cache.set_many({"product:1": {"p": 1}, "product:2": {"p": 2}, "user:1": {"u": 1}})
    assert (d / "svc_product:1.json").exists()
    assert sorted(cache.keys()) == ["product:1", "product:2", "user:1"]
    assert sorted(cache.keys("product:*")) == ["product:1", "product:2"]
    assert cache.invalidate("product:*") == 2
    assert cache.delete("user:1") and not cache.delete("user:1")
    cache.set("z", 1)
    cache.clear()
    assert cache.keys() == [] and len(cache) == 0
    assert (d / "amazon_foreign.json").exists()  # not ours: prefix-only clear


def test_bad_keys_and_metadata(make_fs):
    cache = make_fs()
    with pytest.raises(ConfigError):
        cache.set("../escape", 1)
    with pytest.raises(ConfigError):
        cache.set(".hidden", 1)
    assert cache.get("a/b", "d") == "d" and cache.get(42, "d") == "d"
    assert not cache.exists("a/b") and not cache.delete("a/b")
    with pytest.raises(ConfigError):
        cache.set("m", 1, metadata={"x": 1})
    cache.set("m", 1)
    assert cache.get_metadata("m") == {} and cache.get_metadata("nope") is None


def test_symlinks_are_never_followed(make_fs, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    secret = outside / "secret.json"
    secret.write_text('{"secret": 1}')
    d = tmp_path / "amazon_cache"
    d.mkdir()
    os.symlink(secret, d / "link.json")
    cache = make_fs()
    assert cache.get("link") is None and not cache.exists("link")
    assert cache.keys() == []
    cache.clear()
    assert secret.exists()


def test_capacity_never_deletes_agent_files(make_fs):
    cache = make_fs(max_entries=2)
    for i in range(5):
        cache.set(f"k{i}", i)
    assert len(cache) == 5
    assert cache.evict_lru(3) == 0


def test_another_process_sees_the_files(make_fs, tmp_path):
    d = tmp_path / "amazon_cache"
    cache = make_fs()
    cache.set("from_parent", {"v": 1})
    code = textwrap.dedent(f"""
        import json
        from fbacache import CacheManager
        c = CacheManager(backend_type="filesystem", serialization_format="json",
                         backend_config={{"directory": {str(d)!r}, "ttl_seconds": 3600}})
        c.set("from_child", {{"seen": c.get("from_parent")}})
        print(json.dumps(sorted(c.keys())))
    """)
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         timeout=60, check=True).stdout
    assert json.loads(out) == ["from_child", "from_parent"]
    assert cache.get("from_child") == {"seen": {"v": 1}}


# -- hostile files (#12 items 6, 7, 12) -------------------------------------------------------
def test_fifo_named_like_an_entry_is_a_miss_and_never_blocks(make_fs, tmp_path):
    import threading

    d = tmp_path / "amazon_cache"
    d.mkdir()
    fifo = str(d / "amazon_B0FIFO00000.json")
    os.mkfifo(fifo)
    cache = make_fs()
    result = {}
    reader = threading.Thread(target=lambda: result.update(
        get=cache.get("amazon_B0FIFO00000", "absent"), exists=cache.exists("amazon_B0FIFO00000"),
        keys=cache.keys()), daemon=True)
    reader.start()
    reader.join(60)  # only bounds a hang: a working get() returns at once
    if reader.is_alive():  # unblock the reader before failing, so the run can go on
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))
        reader.join(10)
        pytest.fail("get() blocked on a FIFO")
    assert result == {"get": "absent", "exists": False, "keys": []}
    assert cache.get_metrics()["skipped_files"] >= 1
    assert os.path.exists(fifo)  # reported, never removed


def _thread_bytes_read():
    with open("/proc/thread-self/io") as fh:
        return int(dict(line.split(": ") for line in fh.read().splitlines())["rchar"])


@pytest.mark.skipif(not os.path.exists("/proc/thread-self/io"), reason="needs Linux /proc I/O counters")
@pytest.mark.parametrize("max_decompressed_size", [None, 1 << 20])
def test_oversized_file_is_refused_before_it_is_read(make_fs, tmp_path, max_decompressed_size):
    cap = max_decompressed_size or 64 << 20
    kwargs = {} if max_decompressed_size is None else {
        "max_decompressed_size": max_decompressed_size, "max_entry_size": max_decompressed_size}
    d = tmp_path / "amazon_cache"
    d.mkdir()
    big = d / "amazon_B0BIG000000.json"
    with open(big, "wb") as fh:  # sparse: costs no disk, but a reader would read it all
        fh.truncate(cap + 16 * (1 << 20))
    cache = make_fs(**kwargs)
    before = _thread_bytes_read()
    assert cache.get("amazon_B0BIG000000", "absent") == "absent"
    read = _thread_bytes_read() - before
    assert read < 64 * 1024, f"read {read} bytes of an oversized file"
    assert cache.get_metrics()["skipped_files"] == 1
    # a file just under the cap is still read (and here is corrupt JSON: a counted miss)
    with open(big, "r+b") as fh:
        fh.truncate(cap - 1)
    assert cache.get("amazon_B0BIG000000", "absent") == "absent"
    assert cache.get_metrics()["corrupt_entries"] == 1


@pytest.mark.parametrize("indent", ["xx", "  ", -1, 17, 2.0, True, [2]])
def test_invalid_indent_is_a_config_error(make_fs, tmp_path, indent):
    options = {"directory": str(tmp_path / "amazon_cache"), "indent": indent}
    with pytest.raises(ConfigError, match="indent"):
        make_fs(backend_config=options)


@pytest.mark.parametrize("indent", [None, 0, 4])
def test_valid_indent_writes_readable_files(make_fs, tmp_path, indent):
    d = tmp_path / "amazon_cache"
    cache = make_fs(backend_config={"directory": str(d), "indent": indent})
    assert cache.set("amazon_B08B1P9KWC", AMAZON)
    with open(d / "amazon_B08B1P9KWC.json") as fh:
        assert json.load(fh) == AMAZON
    assert cache.get("amazon_B08B1P9KWC") == AMAZON
