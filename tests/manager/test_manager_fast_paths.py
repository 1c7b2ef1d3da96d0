"""The compiled fast paths (get, get_or_set(k, f), set(k, v)) behave as the full methods.

With objects stored as they are, the manager installs the store's C ``get``,
``fbacache._core.GetOr`` and ``fbacache._core.Put`` as instance attributes; every
other call falls through to the full method. These tests hold the fast paths to
the full methods' documented behaviour: errors, tags, counters, stop(), subclasses.
"""
from __future__ import annotations

import sys

import pytest

from fbacache import CacheManager
from fbacache.errors import EntryTooLarge, ManagerNotRunning


def test_default_manager_installs_the_compiled_paths():
    m = CacheManager()
    assert {"get", "set", "get_or_set"} <= set(vars(m))
    pickled = CacheManager(serialization_format="pickle")
    assert "get" in vars(pickled)  # Codec.reader: the core's compiled Reader
    assert not {"set", "get_or_set"} & set(vars(pickled))
    signed = CacheManager(serialization_format="pickle", signing_key=b"k" * 32)
    assert "get" in vars(signed)  # Codec.signed_reader: verified with the key's context


def test_the_default_get_is_the_stores_builtin_method_with_the_full_signature():
    import inspect

    from fbacache import _core

    m = CacheManager()
    store = m.backend.store
    assert m.get.__self__ is store  # the store's own get, no Python frame around it
    if _core.NATIVE:
        # a builtin method (the interpreter's fastest call of C code), not a Cython function
        assert type(m.get).__name__ == "builtin_function_or_method"
    params = inspect.signature(m.get).parameters.values()
    assert [(p.name, p.default) for p in params] == [("key", inspect.Parameter.empty),
                                                     ("default", None)]
    m.set("k", 1)
    assert m.get("k") == 1 and m.get("x") is None and m.get("x", 2) == 2
    assert m.get(key="x", default=3) == 3 and m.get("k", default=4) == 1
    with pytest.raises(TypeError):
        m.get()
    with pytest.raises(TypeError):
        m.get("k", 1, 2)
    assert (m.get_metrics()["hits"], m.get_metrics()["misses"]) == (2, 3)


def test_the_fast_set_and_get_or_set_are_builtin_methods_of_put_and_get_or():
    from fbacache import _core

    m = CacheManager()
    assert type(m.set.__self__) is _core.Put and type(m.get_or_set.__self__) is _core.GetOr
    if _core.NATIVE:
        assert type(m.set).__name__ == type(m.get_or_set).__name__ == "builtin_function_or_method"
    assert m.set("k", 1) is True and m.get_or_set("k", list) == 1
    assert m.get_or_set("new", lambda: 2) == 2 and m.get("new") == 2
    # keywords and extra arguments reach the full methods through the builtin methods
    assert m.set("t", 3, ttl=60) is True and 0 < m.ttl("t") <= 60
    assert m.set(key="kw", value=4) is True and m.get("kw") == 4
    assert m.get_or_set("g", lambda: 5, ttl=60) == 5 and 0 < m.ttl("g") <= 60
    assert m.get_or_set(key="h", factory=lambda: 6) == 6
    with pytest.raises(TypeError):
        m.set("only-a-key")
    with pytest.raises(TypeError):
        m.get_or_set()


@pytest.mark.parametrize("fmt", ["pickle", "msgpack", "json"])
def test_codec_reader_reads_counts_and_drops_corrupt_blobs(fmt):
    m = CacheManager(serialization_format=fmt, compression="zlib", compression_threshold=64)
    value = {"name": "widget", "n": [1, 2, 3]}
    big = {"text": "y" * 500}
    m.set("k", value)
    m.set("z", big)  # compressed: read through decode()
    for _ in range(40):
        assert m.get("k") == value and m.get("z") == big
    assert m.get("nope", 0) == 0
    metrics = m.get_metrics()
    assert (metrics["hits"], metrics["misses"]) == (80, 1)
    assert metrics["deserialization_time_ms"] > 0  # sampled, not dropped
    m.backend.set("bad", b"\x00not a payload", None, 15)
    m.backend.set("odd", b"\x09??", None, 3)
    assert m.get("bad", "d") == "d" and m.get("odd", "d") == "d"
    assert m.get_metrics()["corrupt_entries"] == 2
    assert not m.exists("bad") and not m.exists("odd")  # dropped like the full get drops them


def test_fast_set_counts_and_weighs_as_the_full_set():
    m = CacheManager()
    assert m.set("a", "x" * 100) is True
    assert m.set("b", 1, None) is True  # an extra argument: the full method
    metrics = m.get_metrics()
    assert metrics["sets"] == 2
    assert metrics["current_size_bytes"] == sys.getsizeof("x" * 100) + sys.getsizeof(1)
    assert m.ttl("a") == float("inf")
    timed = CacheManager(default_ttl=60)
    timed.set("a", 1)
    assert 59 < timed.ttl("a") <= 60


def test_fast_set_raises_the_managers_errors():
    m = CacheManager(max_entry_size=1000)
    with pytest.raises(EntryTooLarge, match="max_entry_size"):
        m.set("big", b"x" * 2000)
    capped = CacheManager(serialization_format="none", max_bytes=500, max_entry_size=1000)
    assert "set" in vars(capped)
    with pytest.raises(EntryTooLarge, match="max_bytes"):
        capped.set("big", b"x" * 700)
    assert m.get_metrics()["sets"] == 0 and not capped.exists("big")


def test_a_tagged_write_turns_the_fast_set_off_so_plain_writes_drop_tags():
    m = CacheManager()
    m.set("k", 1, tags=["t"])
    assert "set" not in vars(m)
    m.set("k", 2)  # a plain overwrite: the key leaves tag "t"
    assert m.invalidate_tags("t") == 0 and m.get("k") == 2
    m.check()


def test_fast_get_or_set_counts_one_miss_and_loads_once():
    m = CacheManager()
    calls = []
    assert m.get_or_set("k", lambda: calls.append(1) or "v") == "v"
    assert m.get_or_set("k", lambda: calls.append(1) or "w") == "v"
    assert m.get_or_set("j", lambda: "t", 30) == "t"  # extra argument: the full method
    metrics = m.get_metrics()
    assert (calls, metrics["hits"], metrics["misses"]) == ([1], 1, 2)
    assert 29 < m.ttl("j") <= 30


def test_stop_removes_the_fast_paths_and_start_restores_them():
    m = CacheManager()
    m.stop()
    for call in (lambda: m.get("k"), lambda: m.set("k", 1), lambda: m.get_or_set("k", int)):
        with pytest.raises(ManagerNotRunning):
            call()
    m.start()
    assert m.set("k", 1) and m.get_or_set("k", int) == 1 and "set" in vars(m)


def test_a_subclass_override_is_not_bypassed():
    class Audited(CacheManager):
        writes: list = []

        def set(self, key, value, *args, **kwargs):
            self.writes.append(key)
            return super().set(key, value, *args, **kwargs)

    m = Audited()
    m.set("k", 1)
    assert Audited.writes == ["k"] and m.get("k") == 1
    assert "set" not in vars(m)
