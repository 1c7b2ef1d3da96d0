"""JsonFileStore: the small backend-facing API (atomic, locked RMW, corrupt != empty, TTL)."""
from __future__ import annotations

import errno
import json
import multiprocessing
import os

import pytest

from fbacache.errors import ConfigError, CorruptFile
from fbacache.fba import JsonFileStore
from fbacache.fba.atomic import TMP_PREFIX, read_json

from .conftest import FailingWriter


def test_get_set_delete_exists_keys_clear(tmp_path):
    s = JsonFileStore(str(tmp_path / "amazon_cache"), ttl_seconds=3600)
    assert s.get("amazon_B000000001") is None and not s.exists("amazon_B000000001")
    s.set("amazon_B000000001", {"asin": "B000000001"})
    s.set("amazon_1911648705_MY FAVOURITE", {"asin": "1911648705"})
    assert s.get("amazon_1911648705_MY FAVOURITE") == {"asin": "1911648705"}
    assert sorted(s.keys()) == ["amazon_1911648705_MY FAVOURITE", "amazon_B000000001"]
    assert s.delete("amazon_B000000001") and not s.delete("amazon_B000000001")
    assert s.clear() == 1 and s.keys() == []
    # the file is the FBA system's own format: plain indented JSON
    s.set("x", [1])
    assert json.loads((tmp_path / "amazon_cache" / "x.json").read_text()) == [1]


def test_ttl_is_mtime_freshness(tmp_path):
    now = [1_000_000.0]
    s = JsonFileStore(str(tmp_path), ttl_seconds=10, clock=lambda: now[0])
    s.set("k", 1)
    os.utime(s.path("k"), (now[0] - 5, now[0] - 5))
    assert s.get("k") == 1 and s.exists("k") and s.keys() == ["k"]
    now[0] += 6
    assert s.get("k", "stale") == "stale" and not s.exists("k") and s.keys() == []
    assert s.age("k") == pytest.approx(11)
    assert JsonFileStore(str(tmp_path), ttl_seconds=None, clock=lambda: 1e12).get("k") == 1


@pytest.mark.parametrize("content", [b"", b"[{\"supplier_product_identifier\": ", b"\xff\xfe"])
def test_corrupt_is_never_empty(tmp_path, content):
    s = JsonFileStore(str(tmp_path))
    (tmp_path / "linking_map.json").write_bytes(content)
    with pytest.raises(CorruptFile):
        s.get("linking_map")
    with pytest.raises(CorruptFile):
        s.update("linking_map", lambda old: old + [1], default=[])
    assert (tmp_path / "linking_map.json").read_bytes() == content  # never overwritten


@pytest.mark.parametrize("key", ["../x", "a/b", ".hidden", "", "a\0b"])
def test_unsafe_keys_rejected(tmp_path, key):
    with pytest.raises(ConfigError):
        JsonFileStore(str(tmp_path)).set(key, 1)


def test_symlinked_entry_is_not_followed(tmp_path):
    outside = tmp_path / "outside.json"
    outside.write_text("[1]")
    d = tmp_path / "d"
    d.mkdir()
    os.symlink(outside, d / "k.json")
    s = JsonFileStore(str(d))
    assert s.get("k") is None and s.keys() == []


@pytest.mark.parametrize("code", [errno.ENOSPC, errno.EACCES])
def test_failed_write_leaves_old_value_and_no_temp(tmp_path, code):
    s = JsonFileStore(str(tmp_path))
    s.set("linking_map", [{"a": 1}] * 50)
    before = (tmp_path / "linking_map.json").read_bytes()
    bad = JsonFileStore(str(tmp_path), writer=FailingWriter(100, code))
    with pytest.raises(OSError) as info:
        bad.update("linking_map", lambda old: old + [{"b": 2}] * 50)
    assert info.value.errno == code
    assert (tmp_path / "linking_map.json").read_bytes() == before
    assert not [n for n in os.listdir(tmp_path) if n.startswith(TMP_PREFIX)]


def _append(directory: str, worker: int, n: int) -> None:
    s = JsonFileStore(directory)
    for i in range(n):
        s.update("linking_map", lambda old: old + [{"supplier_product_identifier":
                                                    f"EAN_{worker}_{i}"}], default=[])


def test_cross_process_read_modify_write_loses_nothing(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    procs = [ctx.Process(target=_append, args=(str(tmp_path), w, 25)) for w in range(4)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(60)
        assert p.exitcode == 0
    records = read_json(str(tmp_path / "linking_map.json"))
    assert len(records) == 100
    assert len({r["supplier_product_identifier"] for r in records}) == 100
